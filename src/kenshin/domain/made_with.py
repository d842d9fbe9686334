"""What a file revision was made with, kept beside it so that it can be made again
byte for byte (``kenshin replay``): the customer's file settings, the VEE settings,
the demand limit and the units' clock drift spells of the day, all as they were.

The store's readings are read as of the revision's watermark; everything else that
shaped the file is here, as JSON with sorted keys, with the version of the rules
(rendering and energy) it was made under and how its day was cut into slots.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from kenshin.domain.csvfiles import CUTS, LOCAL_CUT
from kenshin.domain.lifecycle import Span
from kenshin.domain.model import Customer, FlagColumns, Labels, Layout, Meter, SlotLabels
from kenshin.domain.vee.clock import DriftSpell
from kenshin.domain.vee.settings import VeeSettings

_VEE_FIELDS = [f.name for f in fields(VeeSettings) if f.init]
# The version of the rules that turn readings into file bytes, bumped whenever a rule
# of rendering or of energy changes; a revision that does not say was made under 1.
RULES_VERSION = 2
# What each version changed, as ``kenshin replay`` names it.
RULES_CHANGES = {
    2: (
        "new NEM12 days are cut in standard time; a wide row without values has an empty"
        " total, not 0.000; a CT meter's register wrap is judged by what the meter can"
        " draw (its slot is A, not N)"
    ),
}


@dataclass(frozen=True)
class MadeWith:
    """The settings and the marks a revision was made with."""

    customer: Customer
    vee: VeeSettings | None
    max_demand_w: int
    drift: tuple[DriftSpell, ...] = ()
    service: Mapping[str, Span] = field(default_factory=dict)  # meters' time in service
    demand: Mapping[str, int] = field(default_factory=dict)  # meters' own maximum demand
    cut: str = LOCAL_CUT  # how the day is cut into slots (csvfiles.file_slots)
    rules: int = RULES_VERSION  # the rules version it was made under

    def meters(self, listed: Sequence[Meter]) -> list[Meter]:
        """``listed`` with the time in service and the maximum demand they had then."""
        return [
            replace(m, installed_at=fitted, removed_at=removed, max_demand_w=self.demand.get(m.id))
            for m in listed
            for fitted, removed in [self.service.get(m.id, (None, None))]
        ]


def demand_of(meters: Sequence[Meter]) -> dict[str, int]:
    """The maximum demand of the meters that have their own."""
    return {m.id: m.max_demand_w for m in meters if m.max_demand_w is not None}


def service_of(meters: Sequence[Meter]) -> dict[str, Span]:
    """The time in service of the meters that have one."""
    return {
        m.id: (m.installed_at, m.removed_at)
        for m in meters
        if m.installed_at is not None or m.removed_at is not None
    }


def made_with_json(made: MadeWith) -> str:
    """``made`` as JSON text."""
    c = made.customer
    vee = None
    if made.vee is not None:
        vee = {name: getattr(made.vee, name) for name in _VEE_FIELDS}
        vee["rules"] = sorted(made.vee.rules)
    document = {
        "customer": {
            "id": c.id,
            "name": c.name,
            "timezone": c.timezone,
            "encoding": c.encoding,
            "layout": str(c.layout),
            "labels": str(c.labels),
            "decimals": c.decimals,
            "file_pattern": c.file_pattern,
            "slot_labels": str(c.slot_labels),
            "flags": str(c.flags),
        },
        "vee": vee,
        "max_demand_w": made.max_demand_w,
        "drift": [[s.device, s.start, s.end, s.offset_s] for s in made.drift],
        "service": {m: list(span) for m, span in sorted(made.service.items())},
        "demand": dict(sorted(made.demand.items())),
        "cut": made.cut,
        "rules": made.rules,
    }
    return json.dumps(document, sort_keys=True, ensure_ascii=False)


def made_with_from_json(text: str) -> MadeWith:
    """The MadeWith of ``made_with_json``; ValueError if ``text`` is not one."""
    try:
        document: dict[str, Any] = json.loads(text)
        c = document["customer"]
        customer = Customer(
            c["id"],
            c["name"],
            c["timezone"],
            c["encoding"],
            Layout(c["layout"]),
            Labels(c["labels"]),
            int(c["decimals"]),
            c["file_pattern"],
            # Kept since these settings came; a revision made before had the defaults.
            SlotLabels(c.get("slot_labels", SlotLabels.START)),
            FlagColumns(c.get("flags", FlagColumns.BLOCK)),
        )
        vee = None if document["vee"] is None else VeeSettings(**document["vee"])
        drift = tuple(DriftSpell(d, int(s), e, int(o)) for d, s, e, o in document["drift"])
        service = {m: (f, r) for m, (f, r) in document.get("service", {}).items()}
        demand = {m: int(w) for m, w in document.get("demand", {}).items()}
        # Kept since rules version 2; a revision made before was cut local, under rules 1.
        cut = document.get("cut", LOCAL_CUT)
        if cut not in CUTS:
            raise ValueError(f"unknown cut {cut!r}: one of {CUTS}")
        rules = int(document.get("rules", 1))
        max_demand_w = int(document["max_demand_w"])
        return MadeWith(customer, vee, max_demand_w, drift, service, demand, cut, rules)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a record of what a revision was made with: {exc!r}") from exc
