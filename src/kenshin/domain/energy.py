"""Exact energy arithmetic: meter units, register rollover, kWh formatting.

No float touches an energy value. Energy is integer mWh (1 kWh = 1,000,000 mWh),
so every ECHONET Lite unit, down to 0.0001 kWh, converts exactly.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy.typing as npt

# A demand limit, in W, of one meter or a row of meters; the same arithmetic serves both.
Demand = TypeVar("Demand", int, npt.NDArray[Any])

MWH_PER_KWH = 1_000_000
SECONDS_PER_HOUR = 3600

# JSON unit label -> mWh per raw register step (before the coefficient).
UNIT_MWH: dict[str, int] = {
    "0.0001kWh": 100,
    "0.001kWh": 1_000,
    "0.01kWh": 10_000,
    "0.1kWh": 100_000,
    "1kWh": 1_000_000,
    "10kWh": 10_000_000,
    "100kWh": 100_000_000,
    "1000kWh": 1_000_000_000,
    "10000kWh": 10_000_000_000,
}

# ECHONET Lite EPC 0xE1 code -> mWh per raw register step.
ECHONET_UNIT_MWH: dict[int, int] = {
    0x00: 1_000_000,
    0x01: 100_000,
    0x02: 10_000,
    0x03: 1_000,
    0x04: 100,
    0x0A: 10_000_000,
    0x0B: 100_000_000,
    0x0C: 1_000_000_000,
    0x0D: 10_000_000_000,
}

UNIT_LABEL: dict[int, str] = {mwh: label for label, mwh in UNIT_MWH.items()}

MAX_COEFFICIENT = 999_999
MIN_DIGITS = 1
MAX_DIGITS = 8
MAX_REGISTER = 10**MAX_DIGITS - 1  # 99,999,999: the largest register of any meter
# The most a meter fed directly (coefficient 1) can draw. A meter behind current
# transformers draws its coefficient times as much: see ``demand_limit_w``.
DEFAULT_MAX_DEMAND_W = 100_000
MWH_PER_WATT_SLOT = 500  # one watt for half an hour


def demand_limit_w(
    own_w: int | None, default_w: int, resolution_mwh: int, modulus: int, coefficient: int
) -> int:
    """The most this meter can draw, in W: its own maximum if one is set, else the default
    of a direct meter times its coefficient (a CT meter with coefficient k draws k times
    the current its register counts).

    Never more than one full turn of its register per half hour: a register that went
    down moved by less than one turn, so a higher limit would decide nothing more (and
    the limit stays small enough for exact int64 sums over a day).
    """
    wanted = default_w * coefficient if own_w is None else own_w
    one_turn_w = -(-resolution_mwh * modulus // MWH_PER_WATT_SLOT)
    return min(wanted, one_turn_w)


def demand_limit_mwh(max_demand_w: Demand, elapsed_s: int) -> Demand:
    """The most energy (mWh) a meter drawing at most ``max_demand_w`` draws in
    ``elapsed_s``: W x s / 3.6, rounded down, for one meter (int) or many (int array).

    The whole mWh per watt (500 in a half hour) are multiplied in first, so that no
    step is larger than the limit itself: an int64 array holds every limit below
    2**63 exactly, where W x s x 1000 would overflow 3,600 times sooner.
    """
    per_watt, rest = divmod(elapsed_s * 1000, SECONDS_PER_HOUR)
    limit = max_demand_w * per_watt
    if rest:
        limit = limit + max_demand_w * rest // SECONDS_PER_HOUR
    return limit


def register_delta(
    prev: int,
    cur: int,
    modulus: int,
    resolution_mwh: int,
    elapsed_s: int,
    max_demand_w: int = DEFAULT_MAX_DEMAND_W,
) -> int | None:
    """Energy in mWh between two readings of one register, or None if there is none.

    A register that went down wrapped at ``modulus`` only if the wrapped delta is
    physically possible: at most ``max_demand_w`` (this meter's limit, see
    ``demand_limit_w``) for ``elapsed_s`` (``demand_limit_mwh``, as the day table
    judges it); otherwise it was reset or exchanged and no delta exists. A delta
    without a wrap is what the register measured, kept whatever it is: VEE judges it
    against the same limit (``spike``).
    """
    raw = cur - prev
    if raw < 0:
        raw += modulus
        if raw * resolution_mwh > demand_limit_mwh(max_demand_w, elapsed_s):
            return None
    return raw * resolution_mwh


def format_kwh(mwh: int, min_decimals: int = 3) -> str:
    """Print mWh as kWh exactly: at least ``min_decimals`` decimals, more only when needed."""
    if mwh < 0:
        return "-" + format_kwh(-mwh, min_decimals)
    whole, frac = divmod(mwh, MWH_PER_KWH)
    return f"{whole}{_fraction_text(frac, min_decimals)}"


class KwhFormatter:
    """Formats mWh as kWh exactly; caches the fraction strings of whole-Wh values."""

    __slots__ = ("_min", "_wh_fracs")

    def __init__(self, min_decimals: int) -> None:
        if not 0 <= min_decimals <= 6:
            raise ValueError("min_decimals must be between 0 and 6")
        self._min = min_decimals
        self._wh_fracs = tuple(_fraction_text(i * 1000, min_decimals) for i in range(1000))

    def __call__(self, mwh: int) -> str:
        if mwh < 0:
            return "-" + self(-mwh)
        whole, frac = divmod(mwh, MWH_PER_KWH)
        if frac % 1000 == 0:
            return f"{whole}{self._wh_fracs[frac // 1000]}"
        return f"{whole}{_fraction_text(frac, self._min)}"


def _fraction_text(frac: int, min_decimals: int) -> str:
    digits = f"{frac:06d}".rstrip("0").ljust(min_decimals, "0")
    return f".{digits}" if digits else ""
