"""The daily data-quality report: what it holds, its root-cause lines, and when it is due.

A report covers one local day: per customer, the meters with missing, estimated or
questionable slots and the rules that fired on them, the silent units, the files not
collected (or collected late), the day's security events and its dead letters, those of
unknown devices apart. ``root_causes`` folds the meters into a few
lines, one per customer, kind of failure, unit firmware and signal band, so that one
cause reads as one line however many meters it hit, with its likely cause and the
next step. What it holds, and the counting, are in ``domain.report_quality``; the
renderings (text, HTML, CSV) in ``domain.report_render``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kenshin.domain.report_quality import (
    KINDS,
    CustomerQuality,
    DailyReport,
    DeadLetters,
    MeterQuality,
    NotCollected,
    Totals,
    UnitInfo,
)

__all__ = [
    "KINDS",
    "KIND_ADVICE",
    "KIND_TEXT",
    "Cause",
    "CustomerQuality",
    "DailyReport",
    "DeadLetters",
    "MeterQuality",
    "NotCollected",
    "Totals",
    "UnitInfo",
    "local_clock",
    "plural",
    "report_due",
    "root_causes",
    "signal_band",
]

KIND_TEXT = {
    "silent": "missing",
    "missing": "missing",
    "future": "lost to readings dated in the future",
    "negative": "where the register went backwards",
    "conflict": "with conflicting readings",
    "clock": "read by a unit whose clock drifts",
    "sum": "whose estimate does not add up to the registers",
    "spike": "with a spike far above the meter's peak",
    "high": "far above the same slot on like days",
    "stuck": "stuck at zero",
    "zero_run": "in a long run of zeros",
    "low": "in a day far below its like days",
}
# Per kind: the likely cause, and the next step ({customer}, {meter}, {device}, {day} and
# {slot}, the first slot of the kind where known, are filled in).
_UNUSUAL = (
    "unusual consumption (a real change at the site, or a meter fault)",
    "check with the customer or on site; 'kenshin explain {meter} --slot \"{day} {slot}\"'"
    " shows its readings",
)
KIND_ADVICE = {
    "silent": (
        "the unit stopped sending (power, signal, or a certificate expired or revoked)",
        "see its certificate with 'kenshin devices list --customer {customer}', then power"
        " and signal on site (it sends what it kept once it is back)",
    ),
    "missing": (
        "readings did not arrive (a unit offline for a while, or messages lost)",
        "the server asks for gaps by itself; to ask now: 'kenshin devices resend {device}"
        " --from {day}T{slot} --to {day}T23:30'",
    ),
    "future": (
        "a unit's clock runs ahead: its readings were dated in the future and set aside",
        "set the unit's clock right (NTP); what was set aside is in 'kenshin dead-letters'",
    ),
    "negative": (
        "a meter exchange (or a reset of the register)",
        "'kenshin explain {meter} --slot \"{day} {slot}\"' shows its readings; if it was"
        " exchanged, record when: 'kenshin meters service {meter} --removed TIME'",
    ),
    "conflict": (
        "a unit sent readings again with other values (its memory or clock was reset, or"
        " two units report one meter)",
        "'kenshin conflicts' lists them, the value kept and the other",
    ),
    "clock": (
        "the unit's clock drifts",
        "check the unit's time source (NTP); 'kenshin explain {meter} --slot \"{day} {slot}\"'"
        " shows the times it sent",
    ),
    "sum": (
        "a reading is likely wrong: the slots do not add up to the registers",
        "'kenshin explain {meter} --slot \"{day} {slot}\"' shows its readings",
    ),
    "spike": _UNUSUAL,
    "high": _UNUSUAL,
    "low": _UNUSUAL,
    "stuck": (
        "no consumption: a vacancy, a load switched off, or a meter that stopped counting",
        _UNUSUAL[1],
    ),
    "zero_run": (
        "no consumption: a vacancy, a load switched off, or a meter that stopped counting",
        _UNUSUAL[1],
    ),
}
# LTE RSRP: above -90 dBm a unit is well served; below -105 dBm it is at the cell edge.
GOOD_DBM = -90
WEAK_DBM = -105


@dataclass(frozen=True, slots=True)
class Cause:
    """One root-cause line: ``meters`` of ``units`` of a customer, with one firmware and
    signal band, and ``slots`` of one ``kind``; ``since`` (local HH:MM, after its date if
    not the day reported: a silence from before it) for a gap or a
    silence lasting to the day's end, else ``first`` (the first slot of the kind)."""

    customer: str
    kind: str
    firmware: str | None
    band: str | None
    meters: int
    units: int
    slots: int
    since: str | None = None
    first: str | None = None
    meter: str | None = None  # one meter of the group, for the next step's command
    device: str | None = None
    day: str = ""

    def advice(self) -> str:
        """The likely cause and the next step, as the operator reads them."""
        cause, step = KIND_ADVICE[self.kind]
        if self.kind == "silent" and self.units > 1:
            cause = cause.replace("the unit stopped", "the units stopped")
            step = step.replace("see its certificate", "see their certificates")
            step = step.replace("(it sends", "(a unit sends")
        if self.kind == "missing" and self.units > 1:
            step = step.replace("to ask now:", f"to ask now, for each of the {self.units} units:")
        if self.band is not None and self.band.startswith("weak") and self.kind == "silent":
            cause = f"{cause}, most likely the weak signal"
        slot = self.first or self.since or "HH:MM"
        fields = {"customer": self.customer, "meter": self.meter, "device": self.device}
        return f"likely cause: {cause}; next: {step.format(**fields, day=self.day, slot=slot)}"

    def text(self) -> str:
        """The line as an operator reads it."""
        who = plural(self.meters, "meter")
        if self.kind == "silent":
            units = plural(self.units, "silent unit")
            who = f"{units} ({who})" if self.meters else units
        attrs = "".join(
            (
                f", all units on firmware {self.firmware}" if self.firmware else "",
                f", signal {self.band}" if self.band else "",
            )
        )
        what = f"{plural(self.slots, 'slot')} {KIND_TEXT[self.kind]}"
        if self.kind == "silent":
            heard = f"no reading since {self.since}" if self.since else "no reading all day"
            what = f"{heard}, {what}" if self.slots else heard
        elif self.since:
            what += f" since {self.since}"
        elif self.first:
            what += f", the first at {self.first}"
        return f"{who} of customer {self.customer}{attrs}: {what}"


def signal_band(rsrp_dbm: float | None) -> str | None:
    """The band of a unit's signal: good, fair or weak (None if not reported)."""
    if rsrp_dbm is None:
        return None
    if rsrp_dbm >= GOOD_DBM:
        return f"good (RSRP {GOOD_DBM} dBm or more)"
    if rsrp_dbm >= WEAK_DBM:
        return f"fair (RSRP {WEAK_DBM} to {GOOD_DBM} dBm)"
    return f"weak (RSRP below {WEAK_DBM} dBm)"


def root_causes(report: DailyReport) -> list[Cause]:
    """The report's failures folded into lines, most slots first: per customer, kind of
    failure, unit firmware and signal band. Meters of silent units count as ``silent``."""
    causes = []
    for cq in report.customers:
        groups: dict[tuple[str, str | None, str | None], list[tuple[MeterQuality, int]]] = {}
        for m in cq.problems:
            for kind, slots in m.kinds.items():
                k = "silent" if kind == "missing" and m.device in cq.silent else kind
                groups.setdefault((k, *_unit_key(report, m.device)), []).append((m, slots))
        with_gaps = {m.device for m in cq.problems}
        silent_alone = [d for d in cq.silent if d not in with_gaps]
        for device in silent_alone:  # a silent unit whose meters show no gap: none known
            groups.setdefault(("silent", *_unit_key(report, device)), [])
        for (kind, firmware, band), members in groups.items():
            devices = {m.device for m, _ in members}
            if kind == "silent":
                devices |= {d for d in silent_alone if _unit_key(report, d) == (firmware, band)}
            cause = _cause(cq, kind, (firmware, band), members, devices, report.day)
            causes.append(replace(cause, day=report.day.isoformat()))
    return sorted(causes, key=lambda c: (-c.slots, -c.units, c.customer, c.kind))


def _cause(
    cq: CustomerQuality,
    kind: str,
    unit: tuple[str | None, str | None],
    members: list[tuple[MeterQuality, int]],
    devices: set[str],
    day: date,
) -> Cause:
    firmware, band = unit
    meters = [m for m, _ in members]
    since = first = None
    if kind == "silent":
        heard = [t for d in devices if (t := cq.silent.get(d)) is not None]
        since = _local_moment(max(heard), cq.zone, day) if heard else None
    elif kind == "missing" and all(m.missing_from is not None for m in meters):
        since = cq.labels[min(m.missing_from or 0 for m in meters)]
    elif kind == "missing":
        first = cq.labels[min(m.first_missing or 0 for m in meters)]
    return Cause(
        cq.customer.id,
        kind,
        firmware,
        band,
        len(meters),
        len(devices),
        sum(slots for _, slots in members),
        since,
        first,
        *_example(meters, devices),
    )


def _example(meters: list[MeterQuality], devices: set[str]) -> tuple[str | None, str | None]:
    """A meter of the group and its unit (the first by id), for the next step's command."""
    first = min(meters, key=lambda m: m.meter, default=None)
    return (None, min(devices, default=None)) if first is None else (first.meter, first.device)


def _unit_key(report: DailyReport, device: str) -> tuple[str | None, str | None]:
    unit = report.units.get(device)
    return (None, None) if unit is None else (unit.firmware, signal_band(unit.rsrp_dbm))


def report_due(now: int, at: time, tz: ZoneInfo, last_sent: date | None) -> date | None:
    """The day whose report is due at ``now``: yesterday, once the local clock has passed
    ``at`` today and yesterday's report was not sent yet (a late start still sends it)."""
    local = datetime.fromtimestamp(now, tz)
    if local.time().replace(tzinfo=None) < at:
        return None
    day = local.date() - timedelta(days=1)
    return None if last_sent is not None and last_sent >= day else day


def _local_moment(t: int, tz: ZoneInfo, day: date) -> str:
    """Local HH:MM of ``t`` in ``tz``, after its date (YYYY-MM-DD) unless that is ``day``."""
    moment = datetime.fromtimestamp(t, tz)
    return f"{moment:%H:%M}" if moment.date() == day else f"{moment:%Y-%m-%d %H:%M}"


def local_clock(t: int, tz: ZoneInfo) -> str:
    """Local HH:MM of ``t`` (UTC epoch s) in ``tz``."""
    return f"{datetime.fromtimestamp(t, tz):%H:%M}"


def plural(n: int, noun: str) -> str:
    """'1 meter', '1,200 meters': ``n`` with its noun, plural unless one."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
