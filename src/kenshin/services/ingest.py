"""Ingest: decode incoming messages, check them against the registry, store their readings.

A message is used whole or not at all: if any part of it cannot be used, the whole
message becomes a dead letter with the reason, and the rest of the batch goes on.
Each message used also tells its unit's clock (``domain.vee.clock``): when the unit
was last heard and how far its ``sent`` time is from the receipt; the clocks a batch
changed are saved once, after its readings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from kenshin.domain.energy import UNIT_LABEL
from kenshin.domain.lifecycle import exchanged_out, widened
from kenshin.domain.model import (
    DeadLetter,
    DecodedMessage,
    Device,
    Meter,
    MeterBlock,
    MeterSpec,
    Reading,
    StoreResult,
)
from kenshin.domain.payload_codec import PayloadContext
from kenshin.domain.payloads import CODECS
from kenshin.domain.readings_json import LATEST
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.domain.slots import iso_utc
from kenshin.domain.vee import DriftSpell, UnitClock, VeeSettings, observe, split_future
from kenshin.ports import Store
from kenshin.services.security import SecurityLog

log = logging.getLogger(__name__)

FUTURE_TOLERANCE_S = VeeSettings().future_tolerance_s  # a reading dated later is quarantined
DRIFT_LIMIT_S = VeeSettings().drift_limit_s  # a unit's clock further off is drifting
DRIFT_MIN_SAMPLES = VeeSettings().drift_min_samples  # messages a clock window needs to judge
REVOCATION_LOOK_BACK_S = 120  # how long before its commit a revocation may be dated
Heard = tuple[str, int, int | None]  # (device, received at, sent at by the unit's clock)


class PayloadKind(StrEnum):
    """The payloads kenshin decodes, by the suffix of their topic (``domain.payloads``);
    ``Incoming.kind`` is any registered suffix."""

    READINGS = "readings"
    ECHONET = "echonet"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received payload; ``device`` is the sender's identity when the transport knows it.
    ``live`` is False for a message read from a file long after it was sent: its receipt
    says nothing of the unit's clock, nor of when the unit was last heard. A payload sent
    with a certificate (``serial``) revoked by the time it is committed is not stored."""

    source: str
    payload: bytes
    received_at: int
    kind: str = PayloadKind.READINGS  # the codec's topic suffix (domain.payloads.CODECS)
    device: str | None = None
    live: bool = True
    serial: int | None = None  # of the sender's certificate, when the transport knows it


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
    quarantined: int = 0  # readings dated in the future, kept only in their dead letter
    # Readings after a removal set by an operator: stored, outside the meter's service.
    outside_service: int = 0
    outside_meters: set[str] = field(default_factory=set)

    def add_store_result(self, result: StoreResult) -> None:
        """Count what the store did with a batch."""
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.conflicts += len(result.conflicts)


@dataclass(slots=True)
class _Staged:
    """Meters a batch registers or moves to another device, saved with its readings."""

    meters: dict[str, Meter] = field(default_factory=dict)
    by_device: dict[str, set[str]] = field(default_factory=dict)
    unmetered: set[str] = field(default_factory=set)  # devices the store had no meter for
    new: set[str] = field(default_factory=set)  # meters the store did not know
    first_t: dict[str, int] = field(default_factory=dict)  # a new meter's first reading
    last_t: dict[str, int] = field(default_factory=dict)  # each meter's last of the batch
    service: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    outside: dict[str, int] = field(default_factory=dict)  # readings after a fixed removal

    def add(self, meter: Meter) -> None:
        """Stage ``meter``, replacing what this batch staged for it before."""
        before = self.meters.get(meter.id)
        if before is not None:
            self.by_device[before.device].discard(meter.id)
        self.meters[meter.id] = meter
        self.by_device.setdefault(meter.device, set()).add(meter.id)


class Ingest:
    """Turns batches of incoming payloads into stored readings and dead letters."""

    def __init__(
        self,
        store: Store,
        security: SecurityLog | None = None,
        *,
        future_tolerance_s: int = FUTURE_TOLERANCE_S,
        drift_limit_s: int = DRIFT_LIMIT_S,
        drift_min_samples: int = DRIFT_MIN_SAMPLES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        # What split_future and the clocks need.
        self._vee = VeeSettings(
            future_tolerance_s=future_tolerance_s,
            drift_limit_s=drift_limit_s,
            drift_min_samples=drift_min_samples,
        )
        self._clocks: dict[str, UnitClock] = {}  # every unit heard since start, as saved
        self._security = security or SecurityLog()
        self._devices: dict[str, Device] = {}
        self._meters: dict[str, Meter] = {}
        self._device_meters: dict[str, tuple[str, ...]] = {}  # registered ids, never empty
        self._clock = clock
        self._revoked: set[int] = set()  # certificate serials, as of the last look
        self._revoked_since: int | None = None  # from when the next look asks

    def revoked(self, batch: Sequence[Incoming]) -> set[int]:
        """Positions in ``batch`` of the payloads sent with a certificate revoked by now:
        not to be stored. Asked just before the batch is stored, so that nothing a unit
        sent after its revocation is; the store is asked only for recent revocations."""
        if all(item.serial is None for item in batch):
            return set()
        now = int(self._clock())
        self._revoked |= self._store.certificates.revoked_serials(self._revoked_since)
        # A revocation is dated before it is committed, maybe by another process: look back.
        self._revoked_since = now - REVOCATION_LOOK_BACK_S
        return {i for i, item in enumerate(batch) if item.serial in self._revoked}

    def ingest(
        self, batch: Iterable[Incoming], summary: IngestSummary | None = None
    ) -> IngestSummary:
        """Decode, check and store one batch in one store transaction; adds to ``summary``."""
        summary = summary if summary is not None else IngestSummary()
        readings: list[Reading] = []
        letters: list[DeadLetter] = []
        staged = _Staged()
        heard: list[Heard] = []
        received_at = 0
        for item in batch:
            summary.messages += 1
            received_at = max(received_at, item.received_at)
            outcome = self._accept(item, staged)
            if isinstance(outcome, DeadLetter):
                letters.append(outcome)
                continue
            if item.live:
                heard.append((outcome.device, item.received_at, outcome.sent))
            self._note_service(outcome, staged)
            found = [r for block in outcome.meters for r in block.readings]
            kept, future = split_future(found, item.received_at, self._vee)
            readings.extend(kept)
            if future:  # a unit's clock ahead: quarantined with the message, never used
                summary.quarantined += len(future)
                letters.append(self._quarantined(item, outcome.device, future))
        if staged.meters:
            self._store.registry.save_meters(staged.meters.values())
            self._remember(staged)
            summary.meters_discovered += len(staged.meters)
        self._save_service(staged, summary)
        if readings:
            summary.readings += len(readings)
            summary.add_store_result(self._store.readings.add_readings(readings, received_at))
        if heard:
            self._track_clocks(heard)
        if letters:
            self._keep_dead_letters(letters, summary)
        return summary

    def _note_service(self, decoded: DecodedMessage, staged: _Staged) -> None:
        """Keep each meter's time in service true to what the message shows (see
        ``domain.lifecycle``): a new meter is in service from its first reading, and one
        that replaces the device's only one is an exchange."""
        spans = {
            block.meter: self._span_of(block.meter, staged)
            for block in decoded.meters
            if block.readings
        }
        for block in decoded.meters:
            if block.readings and block.meter in staged.new:
                spans[block.meter] = self._note_first(block, spans[block.meter], staged)
            if block.readings:
                last = block.readings[-1].t
                staged.last_t[block.meter] = max(staged.last_t.get(block.meter, last), last)
                readings = (block.readings[0].t, last)
                if widened(spans[block.meter], readings) == spans[block.meter]:
                    continue
                # A change to write: from what the store holds now (an operator may have
                # set it since this process cached the meter).
                span = self._span_of(block.meter, staged, fresh=True)
                fixed = self._removal_fixed(block, span[1], staged)
                changed = widened(span, readings, removal_fixed=fixed)
                if changed != span:
                    staged.service[block.meter] = spans[block.meter] = changed
                if span[0] is not None and changed[0] != span[0]:  # fitted earlier:
                    self._follow(decoded.device, span[0], changed[0], staged)  # the one before
        fresh = [b for b in decoded.meters if b.meter in staged.new and b.readings]
        if len(fresh) != 1 or len(decoded.meters) > 2:
            return
        new = fresh[0].meter
        others = [
            m
            for m in self._meters_of(decoded.device, staged)
            if m != new and self._span_of(m, staged, fresh=True)[1] is None
        ]
        at = staged.first_t[new]  # its earliest reading of the batch, in any message
        old = others[0] if len(others) == 1 else None
        named = {b.meter: b for b in decoded.meters}
        if old is None or (len(named) == 2 and old not in named):
            return
        if staged.last_t.get(old, at) > at or self._read_after(old, at):
            return  # both report at once: a unit of two meters
        staged.service[old] = exchanged_out(self._span_of(old, staged, fresh=True), at)
        staged.service[new] = (at, self._span_of(new, staged, fresh=True)[1])
        log.info(
            "meter %s of unit %s exchanged for %s at %s", old, decoded.device, new, iso_utc(at)
        )

    def _removal_fixed(self, block: MeterBlock, removed: int | None, staged: _Staged) -> bool:
        """Whether an operator set the meter's removal (at ``removed``): if so, its readings
        after it are noted as outside its service, for the batch's warning."""
        meter = self._store.registry.get_meter(block.meter)
        if removed is None or meter is None or not meter.removal_by_operator:
            return False
        after = sum(1 for r in block.readings if r.t > removed)
        if after:
            staged.outside[block.meter] = staged.outside.get(block.meter, 0) + after
        return True

    def _note_outside(self, outside: dict[str, int], summary: IngestSummary) -> None:
        count = sum(outside.values())
        summary.outside_service += count
        summary.outside_meters.update(outside)
        log.warning(
            "%d readings after their meter was taken out of service by an operator:"
            " stored, outside its time in service (%s)",
            count,
            ", ".join(sorted(outside)),
        )

    def _note_first(
        self, block: MeterBlock, span: tuple[int | None, int | None], staged: _Staged
    ) -> tuple[int | None, int | None]:
        """Note a new meter's first reading; with no fitting recorded, it is in service
        from then (so that the days before have no row of it). Its span, as it leaves it."""
        first = staged.first_t.get(block.meter, block.readings[0].t)
        staged.first_t[block.meter] = min(first, block.readings[0].t)
        if span[0] is not None:
            return span
        staged.service[block.meter] = (staged.first_t[block.meter], span[1])
        return staged.service[block.meter]

    def _follow(self, device: str, was: int, now: int | None, staged: _Staged) -> None:
        """A meter of ``device`` fitted at ``now``, not ``was``: the one it replaced was
        taken out then too."""
        for other in self._meters_of(device, staged):
            fitted, removed = self._span_of(other, staged)
            if removed == was and now is not None:
                staged.service[other] = (fitted, now)

    def _span_of(
        self, meter_id: str, staged: _Staged, *, fresh: bool = False
    ) -> tuple[int | None, int | None]:
        """The meter's time in service as the batch leaves it; ``fresh``: as the store
        holds it, not as cached (to be written back)."""
        if meter_id in staged.service:
            return staged.service[meter_id]
        cached = None if fresh else self._meters.get(meter_id)
        meter = cached or self._store.registry.get_meter(meter_id)
        return (None, None) if meter is None else (meter.installed_at, meter.removed_at)

    def _read_after(self, meter_id: str, t: int) -> bool:
        """Whether the store holds a reading of the meter after ``t`` (an exchange is rare:
        the look is worth it)."""
        found = self._store.readings.readings_between([meter_id], t + 1, LATEST)
        return next(iter(found), None) is not None

    def _save_service(self, staged: _Staged, summary: IngestSummary) -> None:
        if staged.outside:
            self._note_outside(staged.outside, summary)
        spans = staged.service
        if not spans:
            return
        self._store.registry.set_service(
            [(m, fitted, removed) for m, (fitted, removed) in spans.items()]
        )
        for meter_id, (fitted, removed) in spans.items():
            meter = self._meters.get(meter_id)
            if meter is not None:
                self._meters[meter_id] = replace(meter, installed_at=fitted, removed_at=removed)

    def _track_clocks(self, heard: list[Heard]) -> None:
        """Update the clocks of the units heard, in order of arrival, and save them once."""
        clocks = self._clocks
        unknown = {device for device, _, _ in heard if device not in clocks}
        if unknown:
            clocks.update(self._store.unit_clocks.clocks(unknown))
        changed: dict[str, UnitClock] = {}
        spells: dict[tuple[str, int], DriftSpell] = {}
        for device, received, sent in heard:
            before = changed.get(device) or clocks.get(device)
            changed[device], spell = observe(before, device, received, sent, self._vee)
            if spell is not None:
                spells[(device, spell.start)] = spell
        self._store.unit_clocks.record(list(changed.values()), list(spells.values()))
        clocks.update(changed)  # only once saved: a failed save leaves the store's view
        for spell in spells.values():
            if spell.end is None:
                log.info(
                    "unit %s: clock off by %d s since %s",
                    spell.device,
                    spell.offset_s,
                    iso_utc(spell.start),
                )
            else:
                log.info("unit %s: clock right again from %s", spell.device, iso_utc(spell.end))

    def _quarantined(self, item: Incoming, device: str, future: list[Reading]) -> DeadLetter:
        first = future[0]
        return DeadLetter(
            item.source,
            f"{len(future)} reading(s) dated more than {self._vee.future_tolerance_s} s after"
            f" receipt at {iso_utc(item.received_at)}, quarantined and not used (the first:"
            f" {first.meter} at {iso_utc(first.t)}): is the unit's clock right?",
            item.payload,
            item.received_at,
            device,
        )

    def _keep_dead_letters(self, letters: list[DeadLetter], summary: IngestSummary) -> None:
        self._store.dead_letters.add_dead_letters(letters)
        summary.dead_letters += len(letters)
        for letter in letters:
            log.debug("dead letter from %s: %s", letter.source, letter.reason)

    def _accept(self, item: Incoming, staged: _Staged) -> DecodedMessage | DeadLetter:
        decoded = self._decode(item, staged)
        if isinstance(decoded, DeadLetter):
            return decoded
        problem = self._check_device(item, decoded)
        if problem is None:
            problem = self._register_meters(decoded, staged)
        if problem is not None:
            return DeadLetter(item.source, problem, item.payload, item.received_at, decoded.device)
        return decoded

    def _decode(self, item: Incoming, staged: _Staged) -> DecodedMessage | DeadLetter:
        codec = CODECS.get(item.kind)
        if codec is None:
            reason = f"no codec decodes {item.kind!r} payloads: known are {sorted(CODECS)}"
            return DeadLetter(item.source, reason, item.payload, item.received_at, item.device)
        device = item.device
        context = PayloadContext(
            item.source,
            item.received_at,
            device,
            lambda: () if device is None else self._meters_of(device, staged),
        )
        return codec.decode(item.payload, context)

    def _check_device(self, item: Incoming, decoded: DecodedMessage) -> str | None:
        if item.device is not None and item.device != decoded.device:
            problem = f"message names device {decoded.device!r} but was sent by {item.device!r}"
            self._security.record(
                SecurityEventKind.PAYLOAD_NAMES_ANOTHER_DEVICE, item.device, item.source, problem
            )
            return problem
        if self._device(decoded.device) is None:
            return (
                f"unknown device {decoded.device!r}: register it with "
                f"'kenshin devices add {decoded.device} --customer CUSTOMER'"
            )
        return None

    def _register_meters(self, decoded: DecodedMessage, staged: _Staged) -> str | None:
        """Resolve each meter's spec; stage new or re-homed meters. Returns a problem or None."""
        changes: list[Meter] = []
        for block in decoded.meters:
            known = staged.meters.get(block.meter) or self._meter(block.meter)
            spec = block.spec or (known.spec if known else None)
            if spec is None:
                return (
                    f"meter {block.meter!r} is not known yet and the message does not say its "
                    "unit and digits: the unit must send them (ECHONET Lite E1 and D7) once"
                )
            if known is not None and known.spec != spec:
                return _spec_change(block.meter, known.spec, spec)
            problem = _overflow(block, spec) or self._check_owner(
                block.meter, known, decoded.device
            )
            if problem is not None:
                return problem
            # A reverse register, once reported, is remembered by the registry (sticky).
            reverse = any(r.rev is not None for r in block.readings)
            if known is None or known.device != decoded.device or reverse > known.reverse:
                max_demand = known.max_demand_w if known else None
                changes.append(Meter(block.meter, decoded.device, spec, max_demand, reverse))
            if known is None:
                staged.new.add(block.meter)
        for meter in changes:
            staged.add(meter)
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
        device = self._devices.get(device_id) or self._store.registry.get_device(device_id)
        if device is not None:
            self._devices[device_id] = device
        return device

    def _meter(self, meter_id: str) -> Meter | None:
        meter = self._meters.get(meter_id) or self._store.registry.get_meter(meter_id)
        if meter is not None:
            self._meters[meter_id] = meter
        return meter

    def _meters_of(self, device_id: str, staged: _Staged) -> tuple[str, ...]:
        """Ids of the device's meters as the batch leaves them: a meter it staged to the
        device counts, one it moved to another device does not."""
        stored = self._device_meters.get(device_id)
        if stored is None:
            found = self._store.registry.list_meters(device_id=device_id)
            self._meters.update((m.id, m) for m in found)
            stored = tuple(m.id for m in found)
            if stored:
                self._device_meters[device_id] = stored
            else:
                staged.unmetered.add(device_id)
        if not staged.meters:
            return stored
        ids = {m for m in stored if m not in staged.meters} | staged.by_device.get(device_id, set())
        return tuple(sorted(ids))

    def _remember(self, staged: _Staged) -> None:
        """Bring the caches up to date with the meters the batch just saved."""
        for meter in staged.meters.values():
            before = self._meters.get(meter.id)
            if before is not None and before.device != meter.device:
                rest = tuple(m for m in self._device_meters.pop(before.device, ()) if m != meter.id)
                if rest:
                    self._device_meters[before.device] = rest
            # A device the store had no meter for now has this one: no need to ask again.
            ids = self._device_meters.get(meter.device)
            if ids is None and meter.device in staged.unmetered:
                ids = ()
            if ids is not None and meter.id not in ids:
                self._device_meters[meter.device] = tuple(sorted((*ids, meter.id)))
            self._meters[meter.id] = meter


def _overflow(block: MeterBlock, spec: MeterSpec) -> str | None:
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


def _spec_change(meter: str, old: MeterSpec, new: MeterSpec) -> str:
    return (
        f"meter {meter!r} reported {_describe(new)} but is registered with {_describe(old)}; "
        "a meter whose unit, coefficient or digits changed must report under a new meter id"
    )


def _describe(spec: MeterSpec) -> str:
    unit = UNIT_LABEL.get(spec.unit_mwh, f"{spec.unit_mwh} mWh")
    return f"unit {unit}, coefficient {spec.coefficient}, {spec.digits} digits"
