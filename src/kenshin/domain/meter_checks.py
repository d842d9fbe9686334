"""Checks of a message's meters against what the registry knows of them: registers
that fit the meter's digits, and a spec that does not change under one meter id."""

from __future__ import annotations

from kenshin.domain.energy import UNIT_LABEL
from kenshin.domain.model import MeterBlock, MeterSpec
from kenshin.domain.slots import iso_utc


def register_overflow(block: MeterBlock, spec: MeterSpec) -> str | None:
    """Why a register of the block does not fit the meter's digits, or None if all do."""
    limit = spec.modulus
    for reading in block.readings:
        for direction, value in (("fwd", reading.fwd), ("rev", reading.rev)):
            if value is not None and value >= limit:
                return (
                    f"meter {block.meter!r} {direction} register {value} at "
                    f"{iso_utc(reading.t)} does not fit the meter's {spec.digits} digits; "
                    f"it must be below {limit:,}"
                )
    return None


def spec_change(meter: str, old: MeterSpec, new: MeterSpec) -> str:
    """Why a meter that reports another spec than the registered one cannot be used."""
    return (
        f"meter {meter!r} reported {describe_spec(new)} but is registered with "
        f"{describe_spec(old)}; "
        "a meter whose unit, coefficient or digits changed must report under a new meter id"
    )


def describe_spec(spec: MeterSpec) -> str:
    """A meter's spec as an operator reads it: unit, coefficient and digits."""
    unit = UNIT_LABEL.get(spec.unit_mwh, f"{spec.unit_mwh} mWh")
    return f"unit {unit}, coefficient {spec.coefficient}, {spec.digits} digits"
