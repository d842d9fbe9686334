"""The alert rules: each turns the server's ``Observations`` into ``Alert``s.

``active_alerts`` runs every rule: units gone silent, dead letters, a stalled ingest,
exports failing, files not collected, disks filling, components down, alert channels
failing, certificates ending, and the security events (``domain.security_alerts``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

from kenshin.domain.alerts import LISTED, Alert, Severity, duration, listed, shown_time
from kenshin.domain.observations import (
    CertificateExpiry,
    DeviceSeen,
    ExportFailure,
    Observations,
    Thresholds,
)
from kenshin.domain.security_alerts import security_events


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def silent_units(obs: Observations, limits: Thresholds) -> dict[str, list[DeviceSeen]]:
    """By customer, the units that have not reported for longer than its threshold (one
    never heard is not installed yet, not silent)."""
    silent: dict[str, list[DeviceSeen]] = defaultdict(list)
    for seen in obs.devices:
        hours = limits.silent_hours_by_customer.get(seen.customer, limits.silent_hours)
        if seen.last_seen is not None and obs.now - seen.last_seen > hours * 3600:
            silent[seen.customer].append(seen)
    return dict(silent)


def silent_devices(obs: Observations, limits: Thresholds) -> list[Alert]:
    """One alert per customer whose units have not reported for longer than its threshold."""
    alerts = []
    for customer, found in sorted(silent_units(obs, limits).items()):
        found.sort(key=lambda s: (s.last_seen or 0, s.device))
        hours = limits.silent_hours_by_customer.get(customer, limits.silent_hours)
        tz = obs.zone_of(customer)
        names = [f"{s.device} (last {shown_time(s.last_seen or 0, tz)})" for s in found]
        text = (
            f"{len(found)} unit(s) of customer {customer} sent nothing for more than"
            f" {hours:g} h: {listed(names)}.\n"
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
            f" {limits.certificate_expiry_days} days: {listed(names)}. A unit cannot"
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
