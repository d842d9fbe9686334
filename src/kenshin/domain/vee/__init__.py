"""Validation, estimation and editing (VEE) of a customer's day of slots: pure, on arrays.

- ``settings``: every rule's parameters and defaults (``VeeSettings``), the rule bits.
- ``grid``: what VEE is given (``DayGrid`` of boundary registers, ``LikeDays``).
- ``spans``, ``rules``: the checks over whole grids; ``estimate``: filling gaps.
- ``day``: ``validate_day`` and its outcome, ``VeeDay``.
- ``ingest``: future-dated readings, judged as readings arrive.
- ``clock``: each unit's clock, tracked message by message (``UnitClock``), and the
  spells in which it drifted beyond the limit (``DriftSpell``).
"""

from kenshin.domain.vee.clock import (
    CLOCK_WINDOW_S,
    DriftSpell,
    UnitClock,
    drifting_slots,
    observe,
)
from kenshin.domain.vee.day import ESTIMATED, QUESTIONABLE, VeeDay, validate_day
from kenshin.domain.vee.estimate import METHOD_NAMES, Method
from kenshin.domain.vee.grid import DayGrid, LikeDays, beyond_vee, grid_of, like_days_of
from kenshin.domain.vee.ingest import future_dated, split_future
from kenshin.domain.vee.settings import ALL_RULES, RULE_NAMES, Rule, VeeSettings, rule_names

__all__ = [
    "ALL_RULES",
    "CLOCK_WINDOW_S",
    "ESTIMATED",
    "METHOD_NAMES",
    "QUESTIONABLE",
    "RULE_NAMES",
    "DayGrid",
    "DriftSpell",
    "LikeDays",
    "Method",
    "Rule",
    "UnitClock",
    "VeeDay",
    "VeeSettings",
    "beyond_vee",
    "drifting_slots",
    "future_dated",
    "grid_of",
    "like_days_of",
    "observe",
    "rule_names",
    "split_future",
    "validate_day",
]
