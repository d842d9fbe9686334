"""The registry as ingest sees it: devices and meters cached as found, and the meters a
batch registers or moves, saved with its readings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from kenshin.domain.lifecycle import Exchange, Reported, Span, widened
from kenshin.domain.meter_checks import register_overflow, spec_change
from kenshin.domain.model import DecodedMessage, Device, Meter, MeterBlock, MeterSpec
from kenshin.ports import Registry


@dataclass(slots=True)
class StagedMeters:
    """Meters a batch registers or moves to another device, saved with its readings."""

    meters: dict[str, Meter] = field(default_factory=dict)
    by_device: dict[str, set[str]] = field(default_factory=dict)
    unmetered: set[str] = field(default_factory=set)  # devices the store had no meter for
    new: set[str] = field(default_factory=set)  # meters the store did not know
    first_t: dict[str, int] = field(default_factory=dict)  # a new meter's first reading
    last_t: dict[str, int] = field(default_factory=dict)  # each meter's last of the batch
    service: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    outside: dict[str, int] = field(default_factory=dict)  # readings after a fixed removal
    exchanges: list[tuple[str, Exchange]] = field(default_factory=list)  # unit, exchange
    again: bool = False  # planned a second time, under the lock of meters' changes

    @property
    def changes(self) -> bool:
        """Whether the batch registers, moves or changes the time in service of a meter."""
        return bool(self.meters or self.service)

    def add(self, meter: Meter) -> None:
        """Stage ``meter``, replacing what this batch staged for it before."""
        before = self.meters.get(meter.id)
        if before is not None:
            self.by_device[before.device].discard(meter.id)
        self.meters[meter.id] = meter
        self.by_device.setdefault(meter.device, set()).add(meter.id)


class RegistryCache:
    """Devices and meters of ``registry`` as found (only what exists is cached: a device
    registered while ingest runs is seen at once), and each device's meter ids."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._devices: dict[str, Device] = {}
        self._meters: dict[str, Meter] = {}
        self._device_meters: dict[str, tuple[str, ...]] = {}  # registered ids, never empty

    def cached_meter(self, meter_id: str) -> Meter | None:
        """The meter as cached, without asking the registry."""
        return self._meters.get(meter_id)

    def forget_changed(self, staged: StagedMeters) -> None:
        """Ask the registry again for the meters a batch changes, and for their devices'
        meters: another process may have changed them since they were cached."""
        meters = set(staged.meters) | set(staged.service)
        devices = {m.device for m in staged.meters.values()}
        devices.update(m.device for m in map(self._meters.get, meters) if m is not None)
        for device_id in devices:
            self._device_meters.pop(device_id, None)
        for meter_id in meters:
            self._meters.pop(meter_id, None)

    def note_spans(self, spans: Mapping[str, Span]) -> None:
        """Bring cached meters up to date with the times in service just saved."""
        for meter_id, (fitted, removed) in spans.items():
            meter = self._meters.get(meter_id)
            if meter is not None:
                self._meters[meter_id] = replace(meter, installed_at=fitted, removed_at=removed)

    def device(self, device_id: str) -> Device | None:
        device = self._devices.get(device_id) or self._registry.get_device(device_id)
        if device is not None:
            self._devices[device_id] = device
        return device

    def meter(self, meter_id: str) -> Meter | None:
        meter = self._meters.get(meter_id) or self._registry.get_meter(meter_id)
        if meter is not None:
            self._meters[meter_id] = meter
        return meter

    def _list_meters(self, device_id: str) -> tuple[str, ...]:
        """The device's registered meters, cached; their ids."""
        found = self._registry.list_meters(device_id=device_id)
        self._meters.update((m.id, m) for m in found)
        stored = tuple(m.id for m in found)
        if stored:
            self._device_meters[device_id] = stored
        return stored

    def meters_of(self, device_id: str, staged: StagedMeters) -> tuple[str, ...]:
        """Ids of the device's meters as the batch leaves them: a meter it staged to the
        device counts, one it moved to another device does not."""
        stored = self._device_meters.get(device_id)
        if stored is None:
            stored = self._list_meters(device_id)
            if not stored:
                staged.unmetered.add(device_id)
        if not staged.meters:
            return stored
        ids = {m for m in stored if m not in staged.meters} | staged.by_device.get(device_id, set())
        return tuple(sorted(ids))

    def remember(self, staged: StagedMeters) -> None:
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

    def register_meters(
        self,
        decoded: DecodedMessage,
        staged: StagedMeters,
        read: Mapping[str, int | None],
        read_later: Callable[[str, int], bool],
    ) -> str | None:
        """Resolve each meter's spec; stage new or re-homed meters among those ``read``
        (each with its last reading in time: a meter read only ahead of time is checked,
        never staged). A meter belongs to the unit of its newest reading: one reported by
        another unit moves to it unless ``read_later`` (meter, t) knows a reading after
        this one's last. Returns a problem or None."""
        changes: list[tuple[Meter, str]] = []
        if decoded.device not in self._device_meters and any(
            block.meter not in self._meters for block in decoded.meters
        ):  # the unit's meters in one query, not one each (a concentrator has hundreds)
            self._list_meters(decoded.device)
        for block in decoded.meters:
            known = staged.meters.get(block.meter) or self.meter(block.meter)
            spec = block.spec or (known.spec if known else None)
            if spec is None:
                return (
                    f"meter {block.meter!r} is not known yet and the message does not say its "
                    "unit and digits: the unit must send them (ECHONET Lite E1 and D7) once"
                )
            if known is not None and known.spec != spec:
                return spec_change(block.meter, known.spec, spec)
            problem = register_overflow(block, spec) or self._check_owner(
                block.meter, known, decoded.device
            )
            if problem is not None:
                return problem
            if block.meter in read:
                last = read[block.meter]
                change = _change(block, known, (decoded.device, spec, last), read_later)
                changes += [change] if change else []
        for meter, how in changes:  # the message is used: what it changes is staged
            if how == _NEW:
                staged.new.add(meter.id)
            elif how == _MOVED:
                self._reopen(meter.id, staged)
            staged.add(meter)
        return None

    def moved_on(self, seen: Reported, decoded: DecodedMessage, staged: StagedMeters) -> bool:
        """Whether ``seen`` is of a meter now on another unit than the message's (readings
        from its former unit came late): they widen its span, and show no exchange of
        either unit; a meter of its new unit whose removal was taken for its fitting there
        was not exchanged for it, and is in service again. Readings after a removal an
        operator set are noted as outside the meter's service, as on its own unit."""
        meter = staged.meters.get(seen.meter) or self.cached_meter(seen.meter)
        if meter is None or meter.device == decoded.device:
            return False
        span, fixed = self._stored_span(seen.meter, staged)
        if fixed and span[1] is not None:
            _note_outside(next(b for b in decoded.meters if b.meter == seen.meter), span[1], staged)
        changed = widened(span, (seen.first, seen.last), removal_fixed=fixed)
        if changed == span:
            return True
        staged.service[seen.meter] = changed
        if span[0] is not None and changed[0] != span[0]:
            self._reopen_replaced(meter.device, seen.meter, span[0], staged)
        return True

    def _reopen_replaced(self, device_id: str, moved: str, at: int, staged: StagedMeters) -> None:
        """A meter of ``device_id`` taken out at ``at``, when ``moved`` (fitted earlier on
        another unit, it is now found) was first seen there, was not exchanged for it: in
        service again; unless another meter of the unit was fitted then (the exchange was
        for that one)."""
        spans: dict[str, Span] = {}
        for other in self.meters_of(device_id, staged):
            cached = staged.meters.get(other) or self.meter(other)
            if other != moved and cached is not None:
                spans[other] = staged.service.get(other, (cached.installed_at, cached.removed_at))
        if any(fitted == at for fitted, _ in spans.values()):
            return
        for other in [m for m, (_, removed) in spans.items() if removed == at]:
            (fitted, removed), fixed = self._stored_span(other, staged)  # as stored now
            if removed == at and not fixed:
                staged.service[other] = (fitted, None)

    def _stored_span(self, meter_id: str, staged: StagedMeters) -> tuple[Span, bool]:
        """The meter's span as the batch leaves it, else as stored; whether an operator set
        its removal."""
        stored = self._registry.get_meter(meter_id)  # an operator may have set it since
        fixed = stored is not None and stored.removal_by_operator and stored.removed_at is not None
        if meter_id in staged.service:
            return staged.service[meter_id], fixed
        return (None, None) if stored is None else (stored.installed_at, stored.removed_at), fixed

    def _reopen(self, meter_id: str, staged: StagedMeters) -> None:
        """A meter moved to another unit was not taken out of service: an exchange its
        earlier unit showed was its move (a removal an operator set stands)."""
        (fitted, removed), fixed = self._stored_span(meter_id, staged)
        if removed is not None and not fixed:
            staged.service[meter_id] = (fitted, None)

    def _check_owner(self, meter: str, known: Meter | None, device_id: str) -> str | None:
        if known is None or known.device == device_id:
            return None
        old, new = self.device(known.device), self.device(device_id)
        if old is not None and new is not None and old.customer != new.customer:
            return (
                f"meter {meter!r} belongs to device {old.id!r} of customer {old.customer!r}; "
                f"device {new.id!r} of customer {new.customer!r} cannot report it"
            )
        return None


_NEW, _MOVED, _CHANGED = "new", "moved", "changed"


def _change(
    block: MeterBlock,
    known: Meter | None,
    reported: tuple[str, MeterSpec, int | None],
    read_later: Callable[[str, int], bool],
) -> tuple[Meter, str] | None:
    """What a message's ``block`` of a meter stages, ``reported`` by its unit (the unit,
    the meter's spec, and its last reading in time): the meter new, moved to that unit
    (the unit of its newest reading), or with a reverse register now; None if nothing."""
    device, spec, last = reported
    # A reverse register, once reported, is remembered by the registry (sticky).
    reverse = any(r.rev is not None for r in block.readings)
    if known is None:
        return Meter(block.meter, device, spec, reverse=reverse), _NEW
    # On a tie (both units read it at that time) the unit of the lower id: the same
    # whichever message came first.
    moved = (
        known.device != device
        and last is not None
        and not read_later(block.meter, last)
        and (device < known.device or not read_later(block.meter, last - 1))
    )
    if not moved and reverse <= known.reverse:
        return None
    # Its time in service and maximum demand go with it.
    changed = replace(
        known, device=device if moved else known.device, reverse=known.reverse or reverse
    )
    return changed, _MOVED if moved else _CHANGED


def operator_removals(
    registry: Registry,
    decoded: DecodedMessage,
    ids: set[str],
    spans: Mapping[str, Span],
    staged: StagedMeters,
) -> frozenset[str]:
    """The unit's meters (``ids``, as ``spans`` has them) whose removal an operator set:
    it stands. An exchange found later does not move it, and the message's readings after
    it are noted as outside their meter's service, for the batch's warning."""
    fixed = frozenset(
        m
        for m in ids
        if spans[m][1] is not None
        and (meter := registry.get_meter(m)) is not None
        and meter.removal_by_operator
    )
    for block in decoded.meters:
        removed = spans[block.meter][1] if block.meter in fixed else None
        if removed is not None:
            _note_outside(block, removed, staged)
    return fixed


def _note_outside(block: MeterBlock, removed: int, staged: StagedMeters) -> None:
    """Note the block's readings after a removal an operator set, for the batch's warning."""
    if after := sum(1 for r in block.readings if r.t > removed):
        staged.outside[block.meter] = staged.outside.get(block.meter, 0) + after
