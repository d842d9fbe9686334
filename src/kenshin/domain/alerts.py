"""Alerts: the rules that turn a snapshot of the server into alerts, and what to notify.

The server gathers ``Observations`` (what it sees now); each rule turns them into
``Alert``s, each with a stable key. ``plan_notifications`` compares the alerts active
now with the stored state: a new key fires once, an alert still active repeats every
``repeat_s``, a key no longer active is resolved once. ``rate_limited`` splits a
channel's queue into messages: what exceeds the channel's rate goes in one digest or
waits, and is never dropped. All times are UTC epoch seconds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from kenshin.domain.model import DEFAULT_TIMEZONE, SecurityEvent
from kenshin.domain.slots import zone

_T = TypeVar("_T")
LISTED = 10  # devices or addresses named in a text; the rest are counted


class Severity(StrEnum):
    """How urgent an alert is."""

    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


class Event(StrEnum):
    """Why a notification is sent."""

    FIRING = "firing"
    REPEAT = "repeat"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    """A problem that is there now. ``text`` says what happened, where and what to do;
    ``since`` when it began; ``zone`` the local time zone its times are shown in."""

    key: str
    severity: Severity
    title: str
    text: str
    customer: str | None = None
    since: int = 0
    zone: str = DEFAULT_TIMEZONE


@dataclass(frozen=True, slots=True)
class DeviceSeen:
    """When a device last reported (None: never), and its customer."""

    device: str
    customer: str
    last_seen: int | None


@dataclass(frozen=True, slots=True)
class ExportFailure:
    """A customer's day file that could not be built or published, since when and why."""

    customer: str
    day: str
    reason: str
    since: int


class UncollectedFile(Protocol):
    """A final file its customer has not collected by ``due_at`` (services.receipts)."""

    @property
    def customer(self) -> str: ...
    @property
    def day(self) -> str: ...
    @property
    def file_name(self) -> str: ...
    @property
    def revision(self) -> int: ...
    @property
    def due_at(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DiskSpace:
    """Free and total bytes of the file system holding ``path``."""

    path: str
    free_bytes: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class ComponentDown:
    """A component of the server that is not running, since when and why."""

    name: str
    since: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ChannelFailure:
    """An alert channel that fails since ``since``: its last error, how many wait for it."""

    name: str
    reason: str
    since: int
    waiting: int


@dataclass(frozen=True, slots=True)
class CertificateExpiry:
    """When a certificate in use ends: the server's (``customer`` None, ``name`` what
    presents it) or a unit's (``name`` the device id)."""

    name: str
    not_after: int
    customer: str | None = None


@dataclass(frozen=True)
class Observations:
    """What the server sees at ``now``: the input of every rule."""

    now: int
    zone: str = DEFAULT_TIMEZONE  # the site's own time zone
    customer_zones: Mapping[str, str] = field(default_factory=dict)
    devices: Sequence[DeviceSeen] = ()
    dead_letters: int = 0  # kept within the last Thresholds.dead_letter_window_minutes
    last_commit_at: int | None = None
    waiting_messages: int = 0  # received, not committed yet
    waiting_since: int | None = None  # when the oldest of them arrived
    export_failures: Sequence[ExportFailure] = ()
    uncollected: Sequence[UncollectedFile] = ()
    security_events: Sequence[SecurityEvent] = ()  # within Thresholds.security_window_minutes
    disks: Sequence[DiskSpace] = ()
    down: Sequence[ComponentDown] = ()
    channels_failing: Sequence[ChannelFailure] = ()
    certificates: Sequence[CertificateExpiry] = ()  # the server's, and each unit's valid one

    def zone_of(self, customer: str | None) -> str:
        """The customer's time zone, or the site's."""
        return self.customer_zones.get(customer or "", self.zone)


@dataclass(frozen=True)
class Thresholds:
    """When the rules fire."""

    silent_hours: float = 6.0
    silent_hours_by_customer: Mapping[str, float] = field(default_factory=dict)
    dead_letters: int = 10  # more than this many within the window fires
    dead_letter_window_minutes: int = 60
    ingest_stall_minutes: int = 10
    disk_min_free_bytes: int = 1 << 30
    disk_min_free_percent: float = 5.0
    security_window_minutes: int = 60
    certificate_expiry_days: int = 30  # warn this long before a certificate ends


def shown_time(t: int, zone_name: str) -> str:
    """``t`` in local time with its zone, then in UTC: '2026-11-27 13:20 JST (04:20 UTC)'."""
    local = datetime.fromtimestamp(t, zone(zone_name))
    utc = datetime.fromtimestamp(t, UTC)
    if local.tzname() == "UTC":
        return f"{utc:%Y-%m-%d %H:%M} UTC"
    day = "" if utc.date() == local.date() else f"{utc:%Y-%m-%d} "
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({day}{utc:%H:%M} UTC)"


def duration(seconds: int) -> str:
    """A span as '2 d 3 h', '4 h 10 min' or '7 min'."""
    minutes = max(seconds, 0) // 60
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _listed(names: Sequence[str]) -> str:
    more = len(names) - LISTED
    return ", ".join(names[:LISTED]) + (f" and {more} more" if more > 0 else "")


# the rules


def silent_devices(obs: Observations, limits: Thresholds) -> list[Alert]:
    """One alert per customer whose units have not reported for longer than its threshold."""
    silent: dict[str, list[DeviceSeen]] = defaultdict(list)
    for seen in obs.devices:
        hours = limits.silent_hours_by_customer.get(seen.customer, limits.silent_hours)
        if seen.last_seen is not None and obs.now - seen.last_seen > hours * 3600:
            silent[seen.customer].append(seen)
    alerts = []
    for customer, found in sorted(silent.items()):
        found.sort(key=lambda s: (s.last_seen or 0, s.device))
        hours = limits.silent_hours_by_customer.get(customer, limits.silent_hours)
        tz = obs.zone_of(customer)
        names = [f"{s.device} (last {shown_time(s.last_seen or 0, tz)})" for s in found]
        text = (
            f"{len(found)} unit(s) of customer {customer} sent nothing for more than"
            f" {hours:g} h: {_listed(names)}.\n"
            "What to do: check the units' power and mobile signal on site; a unit that comes"
            " back sends its backlog and gap recovery asks for what is still missing."
        )
        title = f"Units silent: customer {customer} ({len(found)})"
        since = found[0].last_seen or 0  # the first of them fell silent then
        alerts.append(Alert(f"silent:{customer}", Severity.WARNING, title, text, customer, since))
    return alerts


def dead_letters(obs: Observations, limits: Thresholds) -> list[Alert]:
    """An alert while more dead letters than the threshold were kept within the window."""
    if obs.dead_letters <= limits.dead_letters:
        return []
    window = limits.dead_letter_window_minutes
    text = (
        f"{obs.dead_letters} messages could not be used in the last {window} min"
        f" (threshold {limits.dead_letters}); they are kept as dead letters with their reasons.\n"
        "What to do: run `kenshin dead-letters` to see the reasons and the devices;"
        " a firmware or configuration change on the units is the usual cause."
    )
    title = f"Dead letters: {obs.dead_letters} in {window} min"
    since = obs.now - window * 60
    return [Alert("dead_letters", Severity.WARNING, title, text, None, since)]


def ingest_stalled(obs: Observations, limits: Thresholds) -> list[Alert]:
    """An alert while messages wait and nothing was committed for the stall time."""
    if obs.waiting_messages <= 0:
        return []
    starts = [t for t in (obs.last_commit_at, obs.waiting_since) if t is not None]
    since = max(starts) if starts else obs.now
    if obs.now - since < limits.ingest_stall_minutes * 60:
        return []
    last = "never" if obs.last_commit_at is None else shown_time(obs.last_commit_at, obs.zone)
    text = (
        f"{obs.waiting_messages} received messages are waiting and nothing was committed"
        f" for {duration(obs.now - since)} (last commit: {last}). Units are not acknowledged"
        " until their readings are committed, so they keep them and send them again.\n"
        "What to do: check the server's log for store errors, the disk (space, a read-only"
        " file system) and whether another process holds the database locked."
    )
    title = f"Ingest stalled: {obs.waiting_messages} messages waiting"
    return [Alert("ingest_stalled", Severity.CRITICAL, title, text, None, since)]


def export_failures(obs: Observations, limits: Thresholds) -> list[Alert]:
    """One alert per customer whose files could not be exported."""
    by_customer: dict[str, list[ExportFailure]] = defaultdict(list)
    for failure in obs.export_failures:
        by_customer[failure.customer].append(failure)
    alerts = []
    for customer, failures in sorted(by_customer.items()):
        failures.sort(key=lambda f: f.day)
        days = ", ".join(f"{f.day} ({f.reason})" for f in failures[:LISTED])
        text = (
            f"The daily files of customer {customer} could not be written: {days}.\n"
            "What to do: fix the cause named (disk, permissions, the customer's settings);"
            " the next export run writes the missing files by itself."
        )
        since = min(f.since for f in failures)
        title = f"Export failing: customer {customer}"
        alerts.append(Alert(f"export:{customer}", Severity.CRITICAL, title, text, customer, since))
    return alerts


def uncollected_files(obs: Observations, limits: Thresholds) -> list[Alert]:
    """One alert per final file not collected by its deadline."""
    alerts = []
    for late in obs.uncollected:
        tz = obs.zone_of(late.customer)
        text = (
            f"Customer {late.customer} has not collected its final file {late.file_name}"
            f" (day {late.day}, revision {late.revision}), due by {shown_time(late.due_at, tz)}.\n"
            "What to do: ask the customer whether its collection job runs; `kenshin deliveries"
            f" --customer {late.customer}` shows what it downloaded and when."
        )
        title = f"File not collected: {late.file_name}"
        key = f"uncollected:{late.customer}:{late.file_name}"
        alerts.append(Alert(key, Severity.WARNING, title, text, late.customer, late.due_at))
    return alerts


def disk_space(obs: Observations, limits: Thresholds) -> list[Alert]:
    """One alert per file system with less free space than the thresholds allow."""
    alerts = []
    for disk in obs.disks:
        percent = 100 * disk.free_bytes / disk.total_bytes if disk.total_bytes else 0.0
        if (
            disk.free_bytes >= limits.disk_min_free_bytes
            and percent >= limits.disk_min_free_percent
        ):
            continue
        text = (
            f"Only {disk.free_bytes / 2**30:.1f} GiB ({percent:.1f} %) is free on the file"
            f" system of {disk.path} (thresholds {limits.disk_min_free_bytes / 2**30:.1f} GiB"
            f" and {limits.disk_min_free_percent:g} %). When it is full, readings cannot be"
            " committed and files cannot be written.\n"
            "What to do: free space or grow the volume; old files go after their retention."
        )
        title = f"Disk space low: {disk.path}"
        alerts.append(Alert(f"disk:{disk.path}", Severity.CRITICAL, title, text, None, obs.now))
    return alerts


def components_down(obs: Observations, limits: Thresholds) -> list[Alert]:
    """One alert per component that is not running."""
    alerts = []
    for down in obs.down:
        why = f": {down.detail}" if down.detail else ""
        text = (
            f"The {down.name} is not running{why}.\n"
            "What to do: check the server's log for why it stopped, then restart kenshin"
            " (`systemctl restart kenshin` or your service manager)."
        )
        title = f"Not running: {down.name}"
        alerts.append(Alert(f"down:{down.name}", Severity.CRITICAL, title, text, None, down.since))
    return alerts


def certificates_expiring(obs: Observations, limits: Thresholds) -> list[Alert]:
    """One alert per server certificate, and one per customer for its units'
    certificates, that ends within the warning time (an ended server one is critical)."""
    soon = obs.now + limits.certificate_expiry_days * 86400
    ending = sorted((c for c in obs.certificates if c.not_after <= soon), key=_by_end)
    alerts = []
    for cert in (c for c in ending if c.customer is None):
        ended = cert.not_after <= obs.now
        text = (
            f"The certificate of the {cert.name} {'ended' if ended else 'ends'}"
            f" {shown_time(cert.not_after, obs.zone)}: units (or customers) cannot connect"
            " to it after that.\n"
            f"What to do: {_RENEW.get(cert.name, _RENEW['MQTT endpoint'])}, then restart"
            " kenshin."
        )
        severity = Severity.CRITICAL if ended else Severity.WARNING
        title = f"Certificate {'ended' if ended else 'ending'}: {cert.name}"
        key = f"certificate:{cert.name}"
        alerts.append(Alert(key, severity, title, text, None, cert.not_after))
    units: dict[str, list[CertificateExpiry]] = defaultdict(list)
    for cert in (c for c in ending if c.customer is not None):
        units[cert.customer or ""].append(cert)
    for customer, certs in sorted(units.items()):
        tz = obs.zone_of(customer)
        names = [f"{c.name} ({shown_time(c.not_after, tz)})" for c in certs]
        text = (
            f"The certificates of {len(certs)} unit(s) of customer {customer} end within"
            f" {limits.certificate_expiry_days} days: {_listed(names)}. A unit cannot"
            " connect once its certificate has ended.\n"
            "What to do: issue new ones (`kenshin devices add ID --customer"
            f" {customer} --out DIR`) and install them on the units before then."
        )
        title = f"Unit certificates ending: customer {customer} ({len(certs)})"
        key = f"certificates:{customer}"
        alerts.append(Alert(key, Severity.WARNING, title, text, customer, certs[0].not_after))
    return alerts


_RENEW = {
    "MQTT endpoint": "issue a new one with `kenshin server-cert`",
    "FTPS server": "install the successor of the certificate set in ftps.certificate",
    "units' certificate authority": "make a new authority and issue every unit a new"
    " certificate from it before then",
}


def _by_end(cert: CertificateExpiry) -> tuple[int, str]:
    return cert.not_after, cert.name


@dataclass(frozen=True, slots=True)
class SecurityKind:
    """How a kind of security event is reported: its severity, what it is, what to do."""

    severity: Severity
    what: str
    action: str


_FIREWALL = "if the address is not one of yours, block it at the firewall."
_SCAN = "Usually a scanner probing the port: " + _FIREWALL
# Every kind that services.security names; tests check that none is missing.
SECURITY_KINDS: dict[str, SecurityKind] = {
    "tls_no_certificate": SecurityKind(
        Severity.WARNING,
        "connections to the device endpoint without a client certificate",
        "Something that is not a kenshin unit tries to connect: " + _FIREWALL,
    ),
    "tls_certificate_refused": SecurityKind(
        Severity.WARNING,
        "client certificates refused (another CA's, expired or not yet valid)",
        "Check the certificate's issuer and dates in the detail; reissue an expired one with"
        " `kenshin devices add`; " + _FIREWALL,
    ),
    "tls_version_refused": SecurityKind(
        Severity.WARNING,
        "TLS handshakes below TLS 1.2 refused",
        "Update the unit's firmware to TLS 1.2 or later; " + _FIREWALL,
    ),
    "tls_not_tls": SecurityKind(Severity.INFO, "connections that did not speak TLS", _SCAN),
    "tls_handshake_timeout": SecurityKind(
        Severity.INFO, "connections that made no TLS handshake in time", _SCAN
    ),
    "tls_handshake_abandoned": SecurityKind(
        Severity.INFO, "TLS handshakes closed by the other end", _SCAN
    ),
    "tls_handshake_failed": SecurityKind(
        Severity.WARNING,
        "TLS handshakes that failed",
        "Read OpenSSL's reason in the detail; " + _FIREWALL,
    ),
    "certificate_refused": SecurityKind(
        Severity.CRITICAL,
        "connections with a revoked certificate (or one naming no device, or a device"
        " not registered)",
        "A revoked unit is trying to connect: make sure it was taken out of service; if it"
        " should report, issue it a new certificate with `kenshin devices add`.",
    ),
    "revoked_while_connected": SecurityKind(
        Severity.WARNING,
        "connections closed because the unit's certificate was revoked",
        "Expected after `kenshin devices revoke`; if nobody revoked it, find out who did.",
    ),
    "connections_limited": SecurityKind(
        Severity.WARNING,
        "connections closed as too many from one address or certificate were still connecting",
        "Many units behind one address reconnecting together (a carrier's NAT) can do it:"
        " raise mqtt.connecting_per_address; otherwise someone is holding connections"
        " open: " + _FIREWALL,
    ),
    "connect_timeout": SecurityKind(
        Severity.INFO,
        "connections that sent no CONNECT within mqtt.connect_timeout_s",
        "A unit on a very slow link may need a longer mqtt.connect_timeout_s; many at once"
        " from one address are someone holding connections open: " + _FIREWALL,
    ),
    "malformed_packet": SecurityKind(
        Severity.WARNING,
        "MQTT packets that broke the protocol",
        "Check the unit's firmware version; a unit that keeps doing it may be tampered with.",
    ),
    "client_id_mismatch": SecurityKind(
        Severity.CRITICAL,
        "connections whose MQTT client id is not the device their certificate names",
        "A unit presents another identity: inspect it, and revoke its certificate"
        " (`kenshin devices revoke`) if it was copied.",
    ),
    "qos_refused": SecurityKind(
        Severity.INFO,
        "publishes at QoS 2, which is not supported",
        "Configure the unit's firmware to publish at QoS 1.",
    ),
    "payload_too_large": SecurityKind(
        Severity.WARNING,
        "payloads larger than allowed",
        "Check the unit's firmware: its messages should be far smaller.",
    ),
    "topic_refused": SecurityKind(
        Severity.WARNING,
        "publishes to topics outside the unit's own",
        "Check the unit's firmware configuration; a unit that insists may be tampered with.",
    ),
    "payload_names_another_device": SecurityKind(
        Severity.CRITICAL,
        "payloads naming another device than the unit that sent them",
        "A unit sends readings for a device that is not its own: inspect it, and revoke its"
        " certificate (`kenshin devices revoke`) if it was copied or tampered with.",
    ),
    "login_failed": SecurityKind(
        Severity.WARNING,
        "failed logins to the file servers (FTPS, SFTP)",
        "If it is the customer, check its credentials (`kenshin customers credentials`);"
        " otherwise someone is guessing passwords: " + _FIREWALL,
    ),
    "login_locked": SecurityKind(
        Severity.WARNING,
        "password logins refused from an address locked after repeated failures",
        "Only that address is held back (a customer's SSH key still works). If it is the"
        " customer's own, check its credentials with it and clear the lock (`kenshin"
        " customers unlock`); otherwise " + _FIREWALL,
    ),
    "login_address_refused": SecurityKind(
        Severity.WARNING,
        "logins from an address outside the account's allow-list",
        "If the customer moved its collecting host, add its network to the account's"
        " allow-list; otherwise someone else holds its credentials: change them.",
    ),
    "ftp_bounce_refused": SecurityKind(
        Severity.CRITICAL,
        "FTP active-mode connections to another address (a bounce attack)",
        "The account is being used to attack other hosts: change its credentials and " + _FIREWALL,
    ),
}
_UNKNOWN_KIND = SecurityKind(
    Severity.WARNING, "security events", "Read the detail and the server's log."
)


def _host(address: str) -> str:
    """The host part of 'host:port', '[v6]:port', 'v6' or 'host'."""
    if address.startswith("["):
        return address[1 : address.find("]")] if "]" in address else address
    host, sep, port = address.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else address


def security_events(obs: Observations, limits: Thresholds) -> list[Alert]:
    """One alert per kind of security event and source: the device or the customer's
    account when it names a known one, else the address (a name a client made up never
    makes an alert of its own: it is listed in the address's)."""
    device_customer = {d.device: d.customer for d in obs.devices}

    def known(who: str | None) -> bool:
        return who is not None and (who in device_customer or who in obs.customer_zones)

    groups: dict[tuple[str, str], list[SecurityEvent]] = defaultdict(list)
    for event in obs.security_events:
        source = event.who if known(event.who) else _host(event.address)
        groups[event.kind, source or ""].append(event)
    alerts = []
    for (kind, source), events in sorted(groups.items()):
        events.sort(key=lambda e: e.at)
        info = SECURITY_KINDS.get(kind, _UNKNOWN_KIND)
        who = events[-1].who if known(events[-1].who) else None
        customer = device_customer.get(who or "") or who
        tz = obs.zone_of(customer)
        hosts = sorted({_host(e.address) for e in events})
        where = f"device {who}" if who in device_customer else f"account {who}" if who else ""
        where += f" of customer {customer}" if customer and customer != who else ""
        where = f"{where} from {_listed(hosts)}" if where else f"from {_listed(hosts)}"
        tried = sorted({e.who for e in events if e.who and not known(e.who)})
        where += f" (names given: {_listed(tried)})" if tried else ""
        name = kind if info is not _UNKNOWN_KIND else f"{kind} (unknown kind)"
        text = (
            f"{info.what[:1].upper()}{info.what[1:]} [{name}] {where}: {len(events)} in the last"
            f" {limits.security_window_minutes} min, the last at {shown_time(events[-1].at, tz)}:"
            f" {events[-1].detail or 'no detail'}.\n"
            f"What to do: {info.action}"
        )
        title = f"Security: {info.what}; {where}"
        alerts.append(
            Alert(f"security:{kind}:{source}", info.severity, title, text, customer, events[0].at)
        )
    return alerts


def failing_channels(obs: Observations, limits: Thresholds) -> list[Alert]:
    """One alert per alert channel that fails (it goes to the other channels at once)."""
    alerts = []
    for failing in obs.channels_failing:
        text = (
            f"The alert channel {failing.name} cannot deliver: {failing.reason}."
            f" {_count(failing.waiting, 'notification waits', 'notifications wait')} for it;"
            " they are sent, in order, when it works again.\n"
            "What to do: check the channel's settings (server, login, URL) and that this"
            " server can reach it."
        )
        title = f"Alert channel failing: {failing.name}"
        key = f"channel:{failing.name}"
        alerts.append(Alert(key, Severity.WARNING, title, text, None, failing.since))
    return alerts


Rule = Callable[[Observations, Thresholds], list[Alert]]
RULES: tuple[Rule, ...] = (
    components_down,
    failing_channels,
    ingest_stalled,
    disk_space,
    export_failures,
    uncollected_files,
    silent_devices,
    dead_letters,
    security_events,
    certificates_expiring,
)


def active_alerts(obs: Observations, limits: Thresholds) -> list[Alert]:
    """Every rule's alerts, each shown in its customer's (or the site's) time zone."""
    alerts: dict[str, Alert] = {}
    for rule in RULES:
        for alert in rule(obs, limits):
            alerts.setdefault(alert.key, replace(alert, zone=obs.zone_of(alert.customer)))
    return list(alerts.values())


# what to notify


@dataclass(frozen=True, slots=True)
class AlertState:
    """An alert that is active, as stored: its latest form (``since`` from its first
    firing), and when it was last notified."""

    alert: Alert
    notified_at: int


@dataclass(frozen=True, slots=True)
class Notification:
    """A message to send about an alert: firing, repeated while it lasts, or resolved at ``at``."""

    event: Event
    alert: Alert
    at: int


@dataclass(frozen=True)
class Plan:
    """What one evaluation does: notifications to send, states to save, keys resolved."""

    notifications: list[Notification]
    states: list[AlertState]
    resolved: list[str]


def plan_notifications(
    active: Iterable[Alert], states: Mapping[str, AlertState], now: int, repeat_s: int
) -> Plan:
    """Fire a new key once; repeat an active one every ``repeat_s`` (at once if its severity
    changed); resolve a stored key that is no longer active once."""
    notifications, saved = [], []
    seen: set[str] = set()
    for alert in active:
        if alert.key in seen:
            continue
        seen.add(alert.key)
        old = states.get(alert.key)
        if old is None:
            notifications.append(Notification(Event.FIRING, alert, now))
            saved.append(AlertState(alert, now))
            continue
        current = replace(alert, since=min(alert.since, old.alert.since))
        escalated = alert.severity != old.alert.severity
        if escalated or now - old.notified_at >= repeat_s:
            event = Event.FIRING if escalated else Event.REPEAT
            notifications.append(Notification(event, current, now))
            saved.append(AlertState(current, now))
        else:
            saved.append(AlertState(current, old.notified_at))
    resolved = sorted(set(states) - seen)
    notifications += [Notification(Event.RESOLVED, states[k].alert, now) for k in resolved]
    return Plan(notifications, saved, resolved)


def rate_limited(
    pending: Sequence[_T],
    sent_at: Iterable[int],
    now: int,
    limit: int,
    window_s: int,
    digest_max: int = 100,
) -> list[list[_T]]:
    """The messages a channel may send now, each a list of pending items in order: while
    fewer than ``limit`` messages went out within ``window_s``, one item each; the last
    room left takes up to ``digest_max`` of the rest as one digest; the others wait."""
    room = limit - sum(1 for t in sent_at if t > now - window_s)
    if room <= 0 or not pending:
        return []
    if len(pending) <= room:
        return [[item] for item in pending]
    single = [[item] for item in pending[: room - 1]]
    return [*single, list(pending[room - 1 : room - 1 + digest_max])]


# how notifications read


def subject(note: Notification, site: str = "kenshin") -> str:
    """A one-line summary: '[kenshin CRITICAL] Ingest stalled...', 'still:', 'RESOLVED'."""
    alert = note.alert
    if note.event == Event.RESOLVED:
        return f"[{site} RESOLVED] {alert.title}"
    still = "still: " if note.event == Event.REPEAT else ""
    return f"[{site} {alert.severity.upper()}] {still}{alert.title}"


def body(note: Notification) -> str:
    """The full text: what happened, where and what to do, since when, and for how long."""
    alert = note.alert
    lasted = duration(note.at - alert.since)
    lines = [alert.text, "", f"Since: {shown_time(alert.since, alert.zone)}"]
    if note.event == Event.RESOLVED:
        lines = [
            f"Resolved at {shown_time(note.at, alert.zone)}, after {lasted}. It was:",
            "",
            *lines,
        ]
    elif note.event == Event.REPEAT:
        lines.append(f"Still active after {lasted}.")
    customer = f", customer {alert.customer}" if alert.customer else ""
    lines.append(f"Severity {alert.severity}, key {alert.key}{customer}.")
    return "\n".join(lines)


def digest_subject(notes: Sequence[Notification], site: str = "kenshin") -> str:
    """The subject of several notifications sent as one message."""
    if len(notes) == 1:
        return subject(notes[0], site)
    firing = sum(1 for n in notes if n.event != Event.RESOLVED)
    resolved = len(notes) - firing
    return f"[{site}] {len(notes)} alert notifications ({firing} active, {resolved} resolved)"


def digest_body(notes: Sequence[Notification], site: str = "kenshin") -> str:
    """Several notifications as one text, one section each."""
    if len(notes) == 1:
        return body(notes[0])
    head = f"{len(notes)} notifications, sent together to keep within the channel's rate limit."
    sections = [f"{subject(n, site)}\n{body(n)}" for n in notes]
    return "\n\n".join([head, *sections])
