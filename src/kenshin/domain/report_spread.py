"""How the day's messages spread over the half hour, for the daily report.

The store keeps no arrival second of a message, but each reading keeps when its unit
sent it (``Reading.sent``, by the unit's clock): a message's readings share that
instant, so each distinct (meter, sent) of the day is one message. Its second within
the half hour is where the unit reported; with units spread over the half hour
(kenshin.domain.spread) every minute holds about 1/30 of them, with every unit at
:00/:30 the first minute holds nearly all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kenshin.domain.slots import SLOT_SECONDS

MINUTES = SLOT_SECONDS // 60
BIN_MINUTES = 5  # the histogram's bins
SPREAD_COLUMNS = ("minutes", "messages", "share_percent")


@dataclass(frozen=True)
class ArrivalSpread:
    """Messages sent in each minute of the half hour (30 counts), from ``meters`` meters."""

    per_minute: tuple[int, ...]
    meters: int

    @property
    def total(self) -> int:
        """Messages counted."""
        return sum(self.per_minute)

    def busiest_share(self) -> float:
        """The busiest minute's share of the messages, in percent (0 when none)."""
        return 100 * max(self.per_minute) / self.total if self.total else 0.0

    def bins(self) -> list[tuple[str, int, float]]:
        """(minutes "00-04", messages, percent) per BIN_MINUTES of the half hour."""
        out = []
        for lo in range(0, MINUTES, BIN_MINUTES):
            n = sum(self.per_minute[lo : lo + BIN_MINUTES])
            share = 100 * n / self.total if self.total else 0.0
            out.append((f"{lo:02d}-{lo + BIN_MINUTES - 1:02d}", n, share))
        return out


def arrival_spread(sent: Iterable[tuple[str, int]], start: int, meters: int) -> ArrivalSpread:
    """The spread of messages given as (meter, sent) pairs (UTC epoch s; 0: not known),
    by their second past the half hours from ``start`` (the day's first boundary)."""
    counts = [0] * MINUTES
    for _meter, at in set(sent):
        if at > 0:
            counts[(at - start) % SLOT_SECONDS // 60] += 1
    return ArrivalSpread(tuple(counts), meters)


def spread_lines(spread: ArrivalSpread | None) -> list[str]:
    """The report's line on the spread: none when no message's sending time is known."""
    if spread is None or spread.total == 0:
        return []
    bins = ", ".join(f":{label} {share:.0f} %" for label, _, share in spread.bins())
    return [
        f"Arrivals spread over the half hour: the busiest minute holds"
        f" {spread.busiest_share():.0f} % of {_count(spread.total, 'message')}"
        f" (of {_count(spread.meters, 'meter')}); per 5 minutes {bins}."
    ]


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def render_spread_csv(spread: ArrivalSpread) -> bytes:
    """The histogram as UTF-8 CSV (``SPREAD_COLUMNS``): one row per 5 minutes of the half
    hour, then one per minute (``minutes`` "07")."""
    rows = [SPREAD_COLUMNS, *((label, str(n), f"{share:.1f}") for label, n, share in spread.bins())]
    total = spread.total or 1
    rows += [
        (f"{m:02d}", str(n), f"{100 * n / total:.1f}") for m, n in enumerate(spread.per_minute)
    ]
    return "".join(",".join(row) + "\r\n" for row in rows).encode("utf-8")
