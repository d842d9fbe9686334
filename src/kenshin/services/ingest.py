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
from typing import Protocol

from kenshin.domain.lifecycle import (
    DeviceService,
    Reported,
    exchange_spans,
    spans_to_set,
    widened,
)
from kenshin.domain.model import (
    DeadLetter,
    DecodedMessage,
    Reading,
)
from kenshin.domain.payload_codec import PayloadContext
from kenshin.domain.readings_json import LATEST
from kenshin.domain.security_kinds import SecurityEventKind
from kenshin.domain.slots import iso_utc
from kenshin.domain.vee import VeeSettings
from kenshin.domain.vee.ingest import split_message
from kenshin.ports import Certificates, DeadLetters, Readings, Registry, UnitClocks
from kenshin.services.clock_book import ClockBook, Heard
from kenshin.services.incoming import Incoming, IngestSummary, PayloadKind, sent_live
from kenshin.services.ingest_registry import (
    RegistryCache,
    StagedMeters,
    operator_removals,
)
from kenshin.services.readings_fast import CODECS
from kenshin.services.security import SecurityLog

__all__ = [
    "REVOCATION_LOOK_BACK_S",
    "Incoming",
    "Ingest",
    "IngestPorts",
    "IngestSummary",
    "PayloadKind",
]

log = logging.getLogger(__name__)

FUTURE_TOLERANCE_S = VeeSettings().future_tolerance_s  # a reading dated later is quarantined
DRIFT_LIMIT_S = VeeSettings().drift_limit_s  # a unit's clock further off is drifting
DRIFT_MIN_SAMPLES = VeeSettings().drift_min_samples  # messages a clock window needs to judge
REVOCATION_LOOK_BACK_S = 120  # how long before its commit a revocation may be dated


class IngestPorts(Protocol):
    """What ingest reads and writes: the registry, certificates' revocations, readings,
    dead letters and the units' clocks. A ``Store`` is one."""

    @property
    def registry(self) -> Registry:
        """Customers, devices and meters."""

    @property
    def certificates(self) -> Certificates:
        """The certificates issued to devices and their revocations."""

    @property
    def readings(self) -> Readings:
        """Register readings and their conflicts."""

    @property
    def dead_letters(self) -> DeadLetters:
        """Messages that could not be used, with their reasons."""

    @property
    def unit_clocks(self) -> UnitClocks:
        """Each unit's last-seen time, clock offset and drift spells."""


@dataclass(slots=True)
class _Plan:
    """What a batch stores: its readings, dead letters, the units heard and the meters
    staged, and the newest receipt; how many readings were dated in the future."""

    staged: StagedMeters
    readings: list[Reading] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    heard: list[Heard] = field(default_factory=list)
    decoded: list[DecodedMessage | DeadLetter | None] = field(default_factory=list)
    at: int = 0
    quarantined: int = 0


class Ingest:
    """Turns batches of incoming payloads into stored readings and dead letters."""

    def __init__(
        self,
        store: IngestPorts,
        security: SecurityLog | None = None,
        *,
        future_tolerance_s: int = FUTURE_TOLERANCE_S,
        drift_limit_s: int = DRIFT_LIMIT_S,
        drift_min_samples: int = DRIFT_MIN_SAMPLES,
        clock: Callable[[], float] = time.time,
        shared: bool = False,
    ) -> None:
        """``shared``: other processes ingest into the store too (``ClockBook``)."""
        self._store = store
        # What split_future and the clocks need.
        self._vee = VeeSettings(
            future_tolerance_s=future_tolerance_s,
            drift_limit_s=drift_limit_s,
            drift_min_samples=drift_min_samples,
        )
        self._clock_book = ClockBook(store.unit_clocks, self._vee, shared=shared)
        self._security = security or SecurityLog()
        self._cache = RegistryCache(store.registry)
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
        """Decode, check and store one batch; adds to ``summary``.

        A batch that registers meters or changes their time in service writes them under
        the registry's lock of meters' changes; where other processes change them too (a
        cluster's workers), it is first planned again under the lock, from the meters as
        stored then: two workers that read a meter before either wrote must not write
        over each other (a new meter's first readings, sent in one wake, are shared
        among the workers)."""
        summary = summary if summary is not None else IngestSummary()
        items = list(batch)
        plan, stored = self._plan(items, StagedMeters()), False
        if plan.staged.changes:
            with self._store.registry.changing_meters() as shared:
                if shared:  # another process may have changed them: look again
                    self._cache.forget_changed(plan.staged)
                    plan = self._plan(items, StagedMeters(again=True), plan.decoded)
                self._save_meters(plan.staged, summary)
                # A meter registered or moved goes with its newest reading: the readings
                # are stored before another process asks whether there is a newer one.
                stored = bool(plan.staged.meters)
                if stored:
                    self._add_readings(plan, summary)
        summary.messages += len(items)
        summary.quarantined += plan.quarantined
        if plan.staged.outside:
            self._note_outside(plan.staged.outside, summary)
        if not stored:
            self._add_readings(plan, summary)
        letters, heard = plan.letters, plan.heard
        if heard:
            self._clock_book.track(heard)
        if letters:
            self._keep_dead_letters(letters, summary)
        return summary

    def _add_readings(self, plan: _Plan, summary: IngestSummary) -> None:
        if plan.readings:
            summary.readings += len(plan.readings)
            summary.add_store_result(self._store.readings.add_readings(plan.readings, plan.at))

    def _plan(
        self,
        items: Sequence[Incoming],
        staged: StagedMeters,
        decoded: Sequence[DecodedMessage | DeadLetter | None] = (),
    ) -> _Plan:
        """What the batch stores and stages, from the registry as cached (``staged``
        fills in), writing nothing; ``decoded``: the items as a first look decoded them
        (None where decoding asked the registry, which may have changed since)."""
        plan = _Plan(staged)
        for i, item in enumerate(items):
            plan.at = max(plan.at, item.received_at)
            first, alone = decoded[i] if decoded else None, True
            if first is None:
                first, alone = self._decode(item, staged)
            plan.decoded.append(first if alone else None)
            if isinstance(first, DeadLetter):
                plan.letters.append(first)
                continue
            in_time, kept, future = split_message(first, item.received_at, self._vee)
            outcome = self._accept(item, staged, first, in_time)
            if isinstance(outcome, DeadLetter):
                plan.letters.append(outcome)
                continue
            if item.live:
                plan.heard.append((outcome.device, item.received_at, sent_live(item, outcome.sent)))
            self._note_service(in_time, staged)
            plan.readings.extend(kept)
            if future:  # a unit's clock ahead: quarantined with the message, never used
                plan.quarantined += len(future)
                plan.letters.append(self._quarantined(item, outcome.device, future))
        return plan

    def _save_meters(self, staged: StagedMeters, summary: IngestSummary) -> None:
        """Register the meters the batch staged and save their times in service; log the
        exchanges it found."""
        if staged.meters:
            # A new meter is inserted in service from its first reading at once: another
            # worker never sees it registered without.
            spans = staged.service
            self._store.registry.save_meters(
                replace(m, installed_at=spans[m.id][0], removed_at=spans[m.id][1])
                if m.id in spans
                else m
                for m in staged.meters.values()
            )
            self._cache.remember(staged)
            summary.meters_discovered += len(staged.meters)
        self._save_service(staged)
        for device, exchange in staged.exchanges:
            log.info(
                "meter %s of unit %s exchanged for %s at %s%s",
                exchange.old,
                device,
                exchange.new,
                iso_utc(exchange.at),
                " (earlier than found before: the new meter's first reading came late)"
                if exchange.moved
                else "",
            )

    def _note_service(self, decoded: DecodedMessage, staged: StagedMeters) -> None:
        """Keep each meter's time in service true to what the message shows: the rule is
        ``domain.lifecycle.spans_to_set``'s; this loads what it needs only when the
        message may change a span (a new meter, or readings outside the cached span)."""
        look: list[Reported] = []
        for block in decoded.meters:
            if not block.readings:
                continue
            seen = Reported(block.meter, block.readings[0].t, block.readings[-1].t)
            staged.last_t[seen.meter] = max(staged.last_t.get(seen.meter, seen.last), seen.last)
            if seen.meter in staged.new:
                first = staged.first_t.get(seen.meter, seen.first)
                staged.first_t[seen.meter] = min(first, seen.first)
                look.append(seen)
            elif (
                widened(span := self._span_of(seen.meter, staged), (seen.first, seen.last)) != span
            ):
                look.append(seen)
        look = [s for s in look if not self._cache.moved_on(s, decoded, staged)]
        if not look:
            return
        # A change to write: from what the store holds now (an operator may have set it
        # since this process cached the meter).
        ids = {*self._cache.meters_of(decoded.device, staged), *(seen.meter for seen in look)}
        spans = {m: self._span_of(m, staged, fresh=True) for m in ids}
        known = DeviceService(
            spans,
            frozenset(staged.new),
            operator_removals(self._store.registry, decoded, ids, spans, staged),
            staged.first_t,
            staged.last_t,
        )
        changes, exchanges = spans_to_set(known, look, [b.meter for b in decoded.meters])
        staged.service.update(changes)
        for exchange in exchanges:
            if self._read_after(exchange.old, exchange.at):  # both report: a unit of two
                if exchange.moved:  # the removal it moved earlier is undone by those readings
                    staged.service[exchange.old] = (staged.service[exchange.old][0], None)
                continue
            staged.service.update(exchange_spans(exchange, {**spans, **staged.service}))
            staged.exchanges.append((decoded.device, exchange))

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

    def _span_of(
        self, meter_id: str, staged: StagedMeters, *, fresh: bool = False
    ) -> tuple[int | None, int | None]:
        """The meter's time in service as the batch leaves it; ``fresh``: as the store
        holds it, not as cached (to be written back)."""
        if meter_id in staged.service:
            return staged.service[meter_id]
        cached = None if fresh else self._cache.cached_meter(meter_id)
        meter = cached or self._store.registry.get_meter(meter_id)
        return (None, None) if meter is None else (meter.installed_at, meter.removed_at)

    def _read_after(self, meter_id: str, t: int) -> bool:
        """Whether the store holds a reading of the meter after ``t`` (an exchange is rare:
        the look is worth it)."""
        found = self._store.readings.readings_between([meter_id], t + 1, LATEST)
        return next(iter(found), None) is not None

    def _save_service(self, staged: StagedMeters) -> None:
        spans = staged.service
        if not spans:
            return
        self._store.registry.set_service(
            [(m, fitted, removed) for m, (fitted, removed) in spans.items()]
        )
        self._cache.note_spans(spans)

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

    def _accept(
        self, item: Incoming, staged: StagedMeters, decoded: DecodedMessage, in_time: DecodedMessage
    ) -> DecodedMessage | DeadLetter:
        """The message checked whole, or the dead letter saying why it cannot be used; the
        meters it reads ``in_time`` (not only dated ahead) staged."""
        problem = self._check_device(item, decoded, quiet=staged.again)
        if problem is None:
            read = {b.meter: b.readings[-1].t if b.readings else None for b in in_time.meters}
            problem = self._cache.register_meters(
                decoded,
                staged,
                read,
                lambda meter, t: staged.last_t.get(meter, t) > t or self._read_after(meter, t),
            )
        if problem is not None:
            return DeadLetter(item.source, problem, item.payload, item.received_at, decoded.device)
        return decoded

    def _decode(
        self, item: Incoming, staged: StagedMeters
    ) -> tuple[DecodedMessage | DeadLetter, bool]:
        """The item decoded, and whether that was without asking the registry (a JSON
        message is; an ECHONET Lite frame without its meter's number asks)."""
        codec = CODECS.get(item.kind)
        if codec is None:
            reason = f"no codec decodes {item.kind!r} payloads: known are {sorted(CODECS)}"
            letter = DeadLetter(item.source, reason, item.payload, item.received_at, item.device)
            return letter, True
        device, asked = item.device, []

        def meters() -> tuple[str, ...]:
            asked.append(True)
            return () if device is None else self._cache.meters_of(device, staged)

        context = PayloadContext(item.source, item.received_at, device, meters)
        return codec.decode(item.payload, context), not asked

    def _check_device(self, item: Incoming, decoded: DecodedMessage, *, quiet: bool) -> str | None:
        """A problem with the message's device, or None; ``quiet``: the message was looked
        at before, and a security event recorded then."""
        if item.device is not None and item.device != decoded.device:
            problem = f"message names device {decoded.device!r} but was sent by {item.device!r}"
            if quiet:
                return problem
            self._security.record(
                SecurityEventKind.PAYLOAD_NAMES_ANOTHER_DEVICE, item.device, item.source, problem
            )
            return problem
        if self._cache.device(decoded.device) is None:
            return (
                f"unknown device {decoded.device!r}: register it with "
                f"'kenshin devices add {decoded.device} --customer CUSTOMER'"
            )
        return None
