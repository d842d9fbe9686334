"""Load profiles of a simulated fleet and the run's calendar of shapes they are drawn over.

A device's profile (home, pv, office or shop) is a base load plus weighted shapes: morning
and evening bumps, daytime at home, business hours, shop opening hours, and a solar curve
under a seeded daily sky. Each slot's energy is turned into whole mWh before it is summed,
and every device-day draws from its own seeded stream, so energies are repeatable.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from kenshin.domain.slots import SLOT_SECONDS, day_slots, zone

_KINDS = ("home", "pv", "office", "shop")
_KIND_WEIGHTS = (55, 20, 15, 10)
_MWH_PER_WATT_SLOT = 500  # one watt for half an hour


@dataclass(frozen=True, slots=True)
class Profile:
    """A device's load: ``base_w`` plus each named shape times its watts, less ``pv_w`` of sun."""

    kind: str
    base_w: float
    terms: tuple[tuple[str, float], ...]
    pv_w: float = 0.0


@dataclass(frozen=True, slots=True)
class FleetCalendar:
    """The run's boundaries (UTC epoch s, with local ISO text), day edges and profile shapes."""

    tz: ZoneInfo
    boundaries: tuple[int, ...]
    local_iso: tuple[str, ...]
    day_edges: tuple[int, ...]
    shapes: dict[str, tuple[float, ...]]

    @property
    def slots(self) -> int:
        """The number of slots in the run (one fewer than its boundaries)."""
        return len(self.boundaries) - 1


def seeded_stream(key: str) -> random.Random:
    """A repeatable random stream for ``key``: the same key always gives the same draws."""
    # A simulation wants repeatable streams, not secrets; a str seed is hashed stably.
    return random.Random(key)  # noqa: S311


def run_calendar(start: date, days: int, timezone: str, seed: int) -> FleetCalendar:
    """The calendar of ``days`` local days from ``start``: boundaries, shapes and weather."""
    tz = zone(timezone)
    local_days = [day_slots(start + timedelta(days=d), tz) for d in range(days)]
    boundaries = tuple(range(local_days[0].start, local_days[-1].end + 1, SLOT_SECONDS))
    edges = [0]
    rows: list[dict[str, float]] = []
    for d, day in enumerate(local_days):
        edges.append(edges[-1] + day.count)
        sky = seeded_stream(f"{seed}:sky:{d}").uniform(0.25, 1.0)
        for t in day.boundaries[:-1]:
            middle = datetime.fromtimestamp(t + SLOT_SECONDS // 2, tz)
            rows.append(_shape_row(middle.hour + middle.minute / 60, middle.weekday() >= 5, sky))
    shapes = {name: tuple(row[name] for row in rows) for name in rows[0]}
    local_iso = tuple(datetime.fromtimestamp(t, tz).isoformat() for t in boundaries)
    return FleetCalendar(tz, boundaries, local_iso, tuple(edges), shapes)


def _shape_row(hour: float, weekend: bool, sky: float) -> dict[str, float]:
    return {
        "morning": _bump(hour, 7.0, 1.0),
        "evening": _bump(hour, 19.5, 1.8),
        "daytime": _bump(hour, 13.0, 3.0) * (1.0 if weekend else 0.3),
        "business": 0.0 if weekend else _plateau(hour, 8.5, 18.5),
        "opening": _plateau(hour, 10.0, 21.0),
        "solar": sky * max(0.0, math.sin(math.pi * (hour - 6.0) / 12.0)) ** 1.5,
    }


def _bump(hour: float, centre: float, width: float) -> float:
    return math.exp(-(((hour - centre) / width) ** 2) / 2)


def _plateau(hour: float, opens: float, closes: float) -> float:
    return 1 / (1 + math.exp(-3 * (hour - opens))) / (1 + math.exp(3 * (hour - closes)))


def draw_profile(rng: random.Random) -> Profile:
    """A profile drawn from ``rng``: its kind by the fleet's mix, then its watts."""
    kind = rng.choices(_KINDS, _KIND_WEIGHTS)[0]
    if kind == "office":
        return Profile(kind, rng.uniform(2000, 8000), (("business", rng.uniform(8000, 30000)),))
    if kind == "shop":
        return Profile(kind, rng.uniform(1000, 4000), (("opening", rng.uniform(5000, 20000)),))
    terms = (
        ("morning", rng.uniform(500, 1500)),
        ("evening", rng.uniform(600, 1800)),
        ("daytime", rng.uniform(300, 900)),
    )
    return Profile(kind, rng.uniform(100, 300), terms, rng.uniform(3000, 6000) * (kind == "pv"))


def day_energies(
    seed: int, cal: FleetCalendar, profile: Profile, index: int, day: int
) -> tuple[list[int], list[int]]:
    """Forward and reverse mWh of each slot of run day ``day`` for device ``index``."""
    rng = seeded_stream(f"{seed}:energy:{index}:{day}")
    lo, hi = cal.day_edges[day], cal.day_edges[day + 1]
    load = [profile.base_w] * (hi - lo)
    for name, watts in profile.terms:
        load = [w + watts * s for w, s in zip(load, cal.shapes[name][lo:hi], strict=True)]
    fwd: list[int] = []
    rev: list[int] = []
    for watts, sun in zip(load, cal.shapes["solar"][lo:hi], strict=True):
        net = watts * (0.7 + 0.6 * rng.random()) - profile.pv_w * sun * (0.8 + 0.4 * rng.random())
        mwh = int(net * _MWH_PER_WATT_SLOT)
        fwd.append(max(mwh, 0))
        rev.append(max(-mwh, 0))
    return fwd, rev
