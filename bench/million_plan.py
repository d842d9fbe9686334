"""The site of bench_million.py: its sizes, its ids, and the registers the bench stores
(the truth the customer files and the stored readings are checked against)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kenshin.domain.model import MeterSpec
from kenshin.domain.slots import zone

TOKYO = zone("Asia/Tokyo")
SPEC = MeterSpec(100_000, 1, 6)  # 0.1 kWh a register step
WEEKS = 4  # the day and its three like days


@dataclass(frozen=True)
class Plan:
    """The site's sizes and day, kept in the site folder for later runs."""

    customers: int
    meters: int  # per customer
    connections: int
    day: str  # the local day exported, ISO

    @property
    def total(self) -> int:
        return self.customers * self.meters

    @property
    def per_unit(self) -> int:
        return self.total // self.connections


def meter_id(n: int) -> str:
    return f"M-{n:07d}"


def device_id(n: int) -> str:
    return f"U-{n:05d}"


def customer_id(n: int) -> str:
    return f"C-{n:03d}"


def steps(first: int, count: int, week: int) -> npt.NDArray[np.int64]:
    """Register steps (1..7, 0.1 kWh each) of meters first.. over the 48 slots of
    ``week`` weeks before the day: a hash, so that meters and slots differ."""
    m = np.arange(first, first + count, dtype=np.uint64)[:, None]
    s = np.arange(48, dtype=np.uint64)[None, :]
    h = (m * np.uint64(2654435761) + s * np.uint64(40503) + np.uint64(week * 977)) % np.uint64(
        2**32
    )
    h = ((h ^ (h >> np.uint64(15))) * np.uint64(2246822519)) % np.uint64(2**32)
    return ((h >> np.uint64(13)) % np.uint64(7) + np.uint64(1)).astype(np.int64)


def registers(first: int, count: int, week: int) -> npt.NDArray[np.int64]:
    """The 49 boundary registers of meters first.. on the day ``week`` weeks before."""
    base = 100_000 + (np.arange(first, first + count, dtype=np.int64) % 4096) * 100
    start = base + (WEEKS - 1 - week) * 5000
    grid = np.zeros((count, 49), np.int64)
    grid[:, 0] = start
    grid[:, 1:] = start[:, None] + np.cumsum(steps(first, count, week), axis=1)
    return grid
