"""Meters in the DynamoDB store's records table, as items and back, and what saving them
changes: the DynamoRegistry's meter half (``dynamo_registry``).

Each meter has two items alike: ``pk = "meter"``, ``sk`` = its id (the meter by id, and
every meter in order), and ``pk = "device-meters#" + its device`` (the meters of a
device, one Query: ingest asks for them on every batch; a customer's meters are a Query
per device of theirs). Both carry ``number``, the meter's place in the order meters
were first registered (``Registry.last_meter``). They are written in BatchWriteItems,
not one transaction (a save of a thousand meters would be ten): a save cut short leaves
some meters as they were, or in one partition and not the other, until saved again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from kenshin.adapters.dynamo_items import key, number, numbers
from kenshin.adapters.dynamo_tables import Item
from kenshin.domain.model import Meter, MeterSpec

METER = "meter"  # every meter, by id
DEVICE_METERS = "device-meters#"  # + a device's id: its meters, by id


def device_meters(device_id: str) -> str:
    """The partition of a device's meters."""
    return DEVICE_METERS + device_id


def meter_item(pk: str, meter: Meter, place: int) -> Item:
    """The item of ``meter``, numbered ``place``, in the partition ``pk``."""
    item: Item = {
        **key(pk, meter.id),
        "device": {"S": meter.device},
        "reverse": {"BOOL": meter.reverse},
        "by_operator": {"BOOL": meter.removal_by_operator},
    }
    spec = meter.spec
    return numbers(
        item,
        {
            "number": place,
            "unit_mwh": spec.unit_mwh,
            "coefficient": spec.coefficient,
            "digits": spec.digits,
            "max_demand_w": meter.max_demand_w,
            "installed_at": meter.installed_at,
            "removed_at": meter.removed_at,
        },
    )


def meter_of(item: Item) -> tuple[Meter, int]:
    """The meter of an item ``meter_item`` made, and its number."""
    spec = MeterSpec(
        int(item["unit_mwh"]["N"]), int(item["coefficient"]["N"]), int(item["digits"]["N"])
    )
    meter = Meter(
        item["sk"]["S"],
        item["device"]["S"],
        spec,
        number(item, "max_demand_w"),
        item["reverse"]["BOOL"],
        number(item, "installed_at"),
        number(item, "removed_at"),
        item["by_operator"]["BOOL"],
    )
    return meter, int(item["number"]["N"])


@dataclass
class MeterChanges:
    """What saving meters changes, from the meters as stored (id -> meter, number) and the
    newest number given: the meters to write (id -> meter, number), and the device index
    items to delete (meters that moved)."""

    stored: dict[str, tuple[Meter, int]]
    last: int
    changed: dict[str, tuple[Meter, int]] = field(default_factory=dict)

    def save(self, meters: Iterable[Meter]) -> None:
        """Insert each meter with its time in service, or update its device and spec; a
        maximum demand or reverse register known before stays unless it gives one. A
        meter new here takes the next number."""
        for meter in meters:
            old = self.changed.get(meter.id) or self.stored.get(meter.id)
            if old is None:
                self.last += 1
                self.changed[meter.id] = (replace(meter, removal_by_operator=False), self.last)
                continue
            kept, place = old
            self.changed[meter.id] = (meter.saved_again(kept), place)

    def set_service(
        self, spans: Sequence[tuple[str, int | None, int | None]], by_operator: bool | None
    ) -> None:
        """Set (meter, installed_at, removed_at) of each stored meter, as given, and whether
        an operator set the removal (None: as it was; never without a removal)."""
        for meter_id, fitted, removed in spans:
            meter, place = self.changed.get(meter_id) or self.stored[meter_id]
            operator = meter.removal_by_operator if by_operator is None else by_operator
            changed = replace(
                meter,
                installed_at=fitted,
                removed_at=removed,
                removal_by_operator=operator and removed is not None,
            )
            self.changed[meter_id] = (changed, place)

    def puts(self) -> list[Item]:
        """The items of the meters that changed: by id and in their device's partition."""
        items = []
        for meter_id, (meter, place) in sorted(self.changed.items()):
            if self.stored.get(meter_id) != (meter, place):
                items.append(meter_item(METER, meter, place))
                items.append(meter_item(device_meters(meter.device), meter, place))
        return items

    def deletes(self) -> list[Item]:
        """The keys of the items of meters that moved, in their old device's partition."""
        return [
            key(device_meters(old.device), meter_id)
            for meter_id, (old, _) in sorted(self.stored.items())
            if meter_id in self.changed and self.changed[meter_id][0].device != old.device
        ]
