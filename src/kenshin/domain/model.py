"""Small value types shared by the domain, the services and the adapters.

Times are integer UTC epoch seconds; energy is integer milliwatt-hours (mWh);
register values are raw integers in the meter's own unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum

from kenshin.domain.energy import demand_limit_w


class Layout(StrEnum):
    """The shape of a customer's daily file."""

    WIDE = "wide"
    LONG = "long"
    NEM12 = "nem12"


class Labels(StrEnum):
    """Language of the column labels."""

    EN = "en"
    JA = "ja"


class SlotLabels(StrEnum):
    """How the wide layout labels its slot columns: by the local time at which each slot
    starts (00:00 ... 23:30), at which it ends (00:30 ... 24:00), or by number (1 ... 48)."""

    START = "start"
    END = "end"
    NUMBER = "number"


class FlagColumns(StrEnum):
    """Where the wide layout puts the quality flags: one column holding every slot's flag
    (``block``), or a column right after each slot's kWh (``per-slot``)."""

    BLOCK = "block"
    PER_SLOT = "per-slot"


class Direction(StrEnum):
    """Register direction: normal (import, consumption) or reverse (export, e.g. solar PV)."""

    FWD = "fwd"
    REV = "rev"


ENCODINGS = ("utf-8", "utf-8-sig", "cp932")
DEFAULT_TIMEZONE = "Asia/Tokyo"
DEFAULT_FILE_PATTERN = "{customer}_{date:%Y%m%d}.csv"
# Ids name folders (customers) and MQTT topic levels (devices): no separators or wildcards.
CUSTOMER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
# Meter ids are the meters' own serials: any printable ASCII without spaces.
METER_ID = re.compile(r"[\x21-\x7e]{1,64}")


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer: owns devices, receives one file per local day."""

    id: str
    name: str
    timezone: str = DEFAULT_TIMEZONE
    encoding: str = "utf-8"
    layout: Layout = Layout.WIDE
    labels: Labels = Labels.EN
    decimals: int = 3
    file_pattern: str = DEFAULT_FILE_PATTERN
    slot_labels: SlotLabels = SlotLabels.START
    flags: FlagColumns = FlagColumns.BLOCK


# The settings that shape a customer's files (``kenshin customers set`` changes them).
FILE_SETTINGS = ("timezone", "encoding", "layout", "labels", "decimals", "slot_labels", "flags")


@dataclass(frozen=True, slots=True)
class Device:
    """A communication unit (LTE-M modem) attached to a meter; belongs to one customer."""

    id: str
    customer: str


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """How a meter's raw register turns into energy.

    energy_mWh = raw x unit_mwh x coefficient; the register wraps at 10**digits.
    """

    unit_mwh: int
    coefficient: int
    digits: int

    @property
    def resolution_mwh(self) -> int:
        """Energy of one raw register step."""
        return self.unit_mwh * self.coefficient

    @property
    def modulus(self) -> int:
        """Raw value at which the register wraps to zero."""
        return int(10**self.digits)


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter as the registry knows it (discovered from its device's messages).

    ``reverse`` is True once the meter has reported a reverse register: its files
    then have a reverse row every day, a row of gaps on a day it sends nothing.
    """

    id: str
    device: str
    spec: MeterSpec
    max_demand_w: int | None = None
    reverse: bool = False
    # Its time in service, UTC epoch s: from when it was fitted, until it was taken out
    # (a meter exchange); None where not known.
    installed_at: int | None = None
    removed_at: int | None = None
    # The removal was set by an operator (kenshin devices remove, meters service): later
    # readings do not undo it, as they do an exchange inferred from the readings.
    removal_by_operator: bool = False

    def demand_limit_w(self, default_w: int) -> int:
        """The most it can draw (W): its own maximum, else ``default_w`` (a direct
        meter's) times its coefficient. A wrap above it is a reset, not a rollover; a
        slot above it without a wrap is kept, and VEE calls it a spike."""
        spec = self.spec
        return demand_limit_w(
            self.max_demand_w, default_w, spec.resolution_mwh, spec.modulus, spec.coefficient
        )

    def saved_again(self, kept: Meter) -> Meter:
        """This meter, as seen in messages again, over ``kept``, the one stored: its device
        and spec as now; its maximum demand unless it gives none; a reverse register once
        either had one; its time in service and who set its removal as kept (those change
        through ``Registry.set_service`` only)."""
        return replace(
            self,
            max_demand_w=kept.max_demand_w if self.max_demand_w is None else self.max_demand_w,
            reverse=self.reverse or kept.reverse,
            installed_at=kept.installed_at,
            removed_at=kept.removed_at,
            removal_by_operator=kept.removal_by_operator,
        )


@dataclass(frozen=True, slots=True)
class Reading:
    """One register reading of one meter at one instant; either register may be absent.

    ``sent`` is when the unit sent it (UTC epoch s, by the unit's clock; 0 where not
    known): it settles which of two conflicting readings is kept (``domain.readings``),
    and is not part of the reading's value, so it takes no part in equality.
    """

    meter: str
    t: int
    fwd: int | None
    rev: int | None
    sent: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class MeterBlock:
    """One meter's readings in a decoded message, with its spec where the message gave it."""

    meter: str
    spec: MeterSpec | None
    readings: tuple[Reading, ...]


@dataclass(frozen=True, slots=True)
class DecodedMessage:
    """A message that decoded cleanly."""

    device: str
    seq: int | None
    sent: int | None
    meters: tuple[MeterBlock, ...]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Something that could not be used, kept with the reason a person can act on."""

    source: str
    reason: str
    payload: bytes
    received_at: int
    device: str | None = None


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """A refusal that may be an attack: a refused certificate, a topic outside a unit's
    own, a failed login... ``kind`` is one of the names in ``services.security``."""

    kind: str
    at: int  # Unix seconds
    address: str  # the peer's address, as "host:port" or "host"
    who: str | None = None  # the device or account, if known
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two readings for (meter, t) with different values: ``stored_*`` are the registers
    kept (of the reading sent first, ``domain.readings``), ``new_*`` the other's, kept aside."""

    meter: str
    t: int
    stored_fwd: int | None
    stored_rev: int | None
    new_fwd: int | None
    new_rev: int | None
    received_at: int


@dataclass(frozen=True, slots=True)
class StoreResult:
    """What one batch of readings did to the store."""

    stored: int = 0
    duplicates: int = 0
    conflicts: tuple[Conflict, ...] = field(default=())

    def __add__(self, other: StoreResult) -> StoreResult:
        return StoreResult(
            self.stored + other.stored,
            self.duplicates + other.duplicates,
            self.conflicts + other.conflicts,
        )


@dataclass(frozen=True, slots=True)
class FileRevision:
    """One published revision of a customer's daily file."""

    customer: str
    day: str
    revision: int
    status: str
    file_name: str
    sha256: str
    content_key: str
    rows: int
    slots: int
    actual_slots: int
    created_at: int
    estimated_slots: int = 0
    changed_slots: int = 0  # slots shown otherwise than in the previous revision
    # What it was made from, so that it can be made again exactly (kenshin replay): the
    # store as of a batch and a meter, and its settings (JSON; "" before it was kept).
    as_of_batch: int = 0
    as_of_meter: int = 0
    made_with: str = ""

    @property
    def as_of(self) -> Watermark | None:
        """The store's state it was made from, if it was recorded."""
        return Watermark(self.as_of_batch, self.as_of_meter) if self.made_with else None


@dataclass(frozen=True, slots=True)
class Watermark:
    """How far a store had come: the newest batch of readings and the newest meter (by
    the order meters were first seen). Reads as of it see nothing newer."""

    batch: int
    meter: int
