"""The security-event rule: one alert per kind of event and source, each kind with its
severity, what it is and what to do (``SECURITY_KINDS``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kenshin.domain.alerts import Alert, Severity, listed, shown_time
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import Observations, Thresholds


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
        where = f"{where} from {listed(hosts)}" if where else f"from {listed(hosts)}"
        tried = sorted({e.who for e in events if e.who and not known(e.who)})
        where += f" (names given: {listed(tried)})" if tried else ""
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
