"""The security-event rule: one alert per kind of event and source, each kind with its
severity, what it is and what to do (``SecurityEventKind``).
"""

from __future__ import annotations

from collections import defaultdict

from kenshin.domain.alerts import Alert, Severity, listed, shown_time
from kenshin.domain.model import SecurityEvent
from kenshin.domain.observations import Observations, Thresholds
from kenshin.domain.security_kinds import SecurityEventKind

_KINDS = {k.value: k for k in SecurityEventKind}
_UNKNOWN_WHAT = "security events"
_UNKNOWN_ADVICE = "Read the detail and the server's log."


def _described(kind: str) -> tuple[Severity, str, str, str]:
    """The severity, what the events are, the advice and the name shown of ``kind``; a
    kind this version does not know (read from the store) still makes a warning."""
    known = _KINDS.get(kind)
    if known is None:
        return Severity.WARNING, _UNKNOWN_WHAT, _UNKNOWN_ADVICE, f"{kind} (unknown kind)"
    return known.severity, known.what, known.advice, kind


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
        severity, what, advice, name = _described(kind)
        who = events[-1].who if known(events[-1].who) else None
        customer = device_customer.get(who or "") or who
        tz = obs.zone_of(customer)
        hosts = sorted({_host(e.address) for e in events})
        where = f"device {who}" if who in device_customer else f"account {who}" if who else ""
        where += f" of customer {customer}" if customer and customer != who else ""
        where = f"{where} from {listed(hosts)}" if where else f"from {listed(hosts)}"
        tried = {e.who for e in events if e.who and not known(e.who)}
        where += f" ({_names(tried)})" if tried else ""
        text = (
            f"{what[:1].upper()}{what[1:]} [{name}] {where}: {len(events)} in the last"
            f" {limits.security_window_minutes} min, the last at {shown_time(events[-1].at, tz)}:"
            f" {_detail(events[-1])}.\n"
            f"What to do: {advice}"
        )
        title = f"Security: {what}; {where}"
        alerts.append(
            Alert(f"security:{kind}:{source}", severity, title, text, customer, events[0].at)
        )
    return alerts


def _names(tried: set[str]) -> str:
    """The names a client gave that are no device's or customer's, to their first
    characters: a password typed where the name goes must not reach a chat or a mail (the
    security events keep them whole, for operators)."""
    shown = sorted({name[:3] + ("…" if len(name) > 3 else "") for name in tried})
    return f"{len(tried)} name{'s' if len(tried) > 1 else ''} given: {listed(shown)}"


def _detail(event: SecurityEvent) -> str:
    """The event's detail as an alert shows it: a console sign-in's does not say whether
    the password or the code was wrong (that would tell whoever reads the alert that the
    password was right; the security events, for operators, say which)."""
    if event.kind == SecurityEventKind.CONSOLE_LOGIN_FAILED:
        return "console: a wrong name, password or code"
    return event.detail or "no detail"
