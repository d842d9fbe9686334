"""Ingest: decode incoming messages, check them against the registry, store their readings.

A message is used whole or not at all: if any part of it cannot be used, the whole
message becomes a dead letter with the reason, and the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from kenshin.domain.echonet import decode_echonet
from kenshin.domain.energy import UNIT_LABEL
from kenshin.domain.model import (
    DeadLetter,
    DecodedMessage,
    Device,
    Meter,
    MeterSpec,
    Reading,
    StoreResult,
)
from kenshin.domain.wire import decode_readings
from kenshin.ports import Store

log = logging.getLogger(__name__)


class PayloadKind(StrEnum):
    """What a payload is, from its topic."""

    READINGS = "readings"
    ECHONET = "echonet"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received payload; ``device`` is the sender's identity when the transport knows it."""

    source: str
    payload: bytes
    received_at: int
    kind: PayloadKind = PayloadKind.READINGS
    device: str | None = None


@dataclass(slots=True)
class IngestSummary:
    """Counts of what a run of ingest did."""

    messages: int = 0
    readings: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    dead_letters: int = 0
    meters_discovered: int = 0

    def add_store_result(self, result: StoreResult) -> None:
        """Count what the store did with a batch."""
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.conflicts += len(result.conflicts)


class Ingest:
    """Turns batches of incoming payloads into stored readings and dead letters."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._devices: dict[str, Device] = {}
        self._meters: dict[str, Meter] = {}

    def ingest(
        self, batch: Iterable[Incoming], summary: IngestSummary | None = None
    ) -> IngestSummary:
        """Decode, check and store one batch in one store transaction; adds to ``summary``."""
        summary = summary if summary is not None else IngestSummary()
        readings: list[Reading] = []
        letters: list[DeadLetter] = []
        new_meters: dict[str, Meter] = {}
        received_at = 0
        for item in batch:
            summary.messages += 1
            received_at = max(received_at, item.received_at)
            outcome = self._accept(item, new_meters)
            if isinstance(outcome, DeadLetter):
                letters.append(outcome)
            else:
                readings.extend(r for block in outcome.meters for r in block.readings)
        if new_meters:
            self._store.save_meters(new_meters.values())
            self._meters.update(new_meters)
            summary.meters_discovered += len(new_meters)
        if readings:
            summary.readings += len(readings)
            summary.add_store_result(self._store.add_readings(readings, received_at))
        if letters:
            self._keep_dead_letters(letters, summary)
        return summary

    def _keep_dead_letters(self, letters: list[DeadLetter], summary: IngestSummary) -> None:
        self._store.add_dead_letters(letters)
        summary.dead_letters += len(letters)
        for letter in letters:
            log.debug("dead letter from %s: %s", letter.source, letter.reason)

    def _accept(self, item: Incoming, new_meters: dict[str, Meter]) -> DecodedMessage | DeadLetter:
        decoded = self._decode(item)
        if isinstance(decoded, DeadLetter):
            return decoded
        problem = self._check_device(item, decoded)
        if problem is None:
            problem = self._register_meters(decoded, new_meters)
        if problem is not None:
            return DeadLetter(item.source, problem, item.payload, item.received_at, decoded.device)
        return decoded

    @staticmethod
    def _decode(item: Incoming) -> DecodedMessage | DeadLetter:
        if item.kind is PayloadKind.ECHONET:
            if item.device is None:
                return DeadLetter(
                    item.source,
                    "an ECHONET Lite frame needs the sending device's id from its topic",
                    item.payload,
                    item.received_at,
                )
            return decode_echonet(
                item.payload, device=item.device, received_at=item.received_at, source=item.source
            )
        return decode_readings(item.payload, source=item.source, received_at=item.received_at)

    def _check_device(self, item: Incoming, decoded: DecodedMessage) -> str | None:
        if item.device is not None and item.device != decoded.device:
            return f"message names device {decoded.device!r} but was sent by {item.device!r}"
        if self._device(decoded.device) is None:
            return (
                f"unknown device {decoded.device!r}: register it with "
                f"'kenshin devices add {decoded.device} --customer CUSTOMER'"
            )
        return None

    def _register_meters(self, decoded: DecodedMessage, new_meters: dict[str, Meter]) -> str | None:
        """Resolve each meter's spec; stage new or re-homed meters. Returns a problem or None."""
        staged: dict[str, Meter] = {}
        for block in decoded.meters:
            known = new_meters.get(block.meter) or self._meter(block.meter)
            spec = block.spec or (known.spec if known else None)
            if spec is None:
                return (
                    f"meter {block.meter!r} is not known yet and the message does not say its "
                    "unit and digits: the unit must send them (ECHONET Lite E1 and D7) once"
                )
            if known is not None and known.spec != spec:
                return _spec_change(block.meter, known.spec, spec)
            problem = self._check_owner(block.meter, known, decoded.device)
            if problem is not None:
                return problem
            if known is None or known.device != decoded.device:
                max_demand = known.max_demand_w if known else None
                staged[block.meter] = Meter(block.meter, decoded.device, spec, max_demand)
        new_meters.update(staged)
        return None

    def _check_owner(self, meter: str, known: Meter | None, device_id: str) -> str | None:
        if known is None or known.device == device_id:
            return None
        old, new = self._device(known.device), self._device(device_id)
        if old is not None and new is not None and old.customer != new.customer:
            return (
                f"meter {meter!r} belongs to device {old.id!r} of customer {old.customer!r}; "
                f"device {new.id!r} of customer {new.customer!r} cannot report it"
            )
        return None

    # Only what exists is cached: a device registered while ingest runs is seen at once.
    def _device(self, device_id: str) -> Device | None:
        device = self._devices.get(device_id) or self._store.get_device(device_id)
        if device is not None:
            self._devices[device_id] = device
        return device

    def _meter(self, meter_id: str) -> Meter | None:
        meter = self._meters.get(meter_id) or self._store.get_meter(meter_id)
        if meter is not None:
            self._meters[meter_id] = meter
        return meter


def _spec_change(meter: str, old: MeterSpec, new: MeterSpec) -> str:
    return (
        f"meter {meter!r} reported {_describe(new)} but is registered with {_describe(old)}; "
        "a meter whose unit, coefficient or digits changed must report under a new meter id"
    )


def _describe(spec: MeterSpec) -> str:
    unit = UNIT_LABEL.get(spec.unit_mwh, f"{spec.unit_mwh} mWh")
    return f"unit {unit}, coefficient {spec.coefficient}, {spec.digits} digits"
