"""The parameters of every VEE rule, with their defaults: one frozen value per customer.

Thresholds are integers (percent, mWh, slots, seconds): a rule compares energies
exactly, with no float in the way. Each field is checked when the settings are
made, and a bad one raises ValueError naming the field and its range.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import IntFlag


class Rule(IntFlag):
    """One bit per rule that can fire on a slot; a slot keeps every bit that fired."""

    MISSING = 1 << 0  # no value: a boundary register is missing
    NEGATIVE = 1 << 1  # the register went down and no rollover explains it
    SPIKE = 1 << 2  # far above the meter's recent peak
    HIGH = 1 << 3  # far above the same slot on the like days
    LOW = 1 << 4  # the day's energy far below the like days
    ZERO_RUN = 1 << 5  # part of a run of zero slots longer than the limit
    STUCK = 1 << 6  # zero where the meter always consumed on the like days
    SUM = 1 << 7  # slots disagree with the register difference over their span
    CONFLICT = 1 << 8  # a boundary had a second reading with a different value
    FUTURE = 1 << 9  # a boundary reading was dated in the future and quarantined
    CLOCK = 1 << 10  # the unit's clock drifts beyond the limit


RULE_NAMES: dict[str, Rule] = {rule.name.lower(): rule for rule in Rule if rule.name}
ALL_RULES = frozenset(RULE_NAMES)
# Rules that only explain a missing slot: they never make a slot questionable.
EXPLAINS_GAPS = Rule.MISSING | Rule.NEGATIVE | Rule.FUTURE


def rule_names(bits: int) -> list[str]:
    """The names of the rules whose bits are set in ``bits``, in bit order."""
    return [name for name, rule in RULE_NAMES.items() if bits & rule]


@dataclass(frozen=True)
class VeeSettings:
    """Every rule's parameters; see docs/vee.md for what each one means to an operator."""

    # Which rules run (names of Rule, lower case). A rule not listed never fires.
    rules: frozenset[str] = ALL_RULES
    # Longest gap (slots) filled by linear interpolation: 2 hours, the common practice.
    interpolation_max_slots: int = 4
    # Weeks of same-weekday history averaged for a longer gap: 3, the like-day practice
    # (a weekday's habits, recent enough to follow the season).
    like_day_weeks: int = 3
    # Fewest of those weeks with a value in every slot of a gap before it is estimated: one
    # measured week is a better guess than nothing, and the registers fix the gap's total.
    like_day_min_weeks: int = 1
    # Spike: a slot above spike_percent % of the meter's peak over the like days plus
    # spike_margin_mwh (1 kWh: 2 kW for half an hour, so a small home's kettle is no spike).
    spike_percent: int = 300
    spike_margin_mwh: int = 1_000_000
    # High: a slot above high_percent % of the highest same slot on the like days plus
    # high_margin_mwh (1 kWh: a solar home on a dull day draws in hours it exported before).
    high_percent: int = 300
    high_margin_mwh: int = 1_000_000
    # Low: the day's energy below low_percent % of the lowest like day over the same slots,
    # when that lowest like day had at least low_min_mwh (1 kWh: too little to judge below).
    low_percent: int = 20
    low_min_mwh: int = 1_000_000
    # Fewest like days with a value before SPIKE, HIGH, LOW or STUCK judge: one day alone
    # may have been unusual.
    history_min_days: int = 2
    # Zero run: more than this many hours of zero forward energy in a row (12: longer than a
    # solar home's sunny day at zero import; an empty home still draws standby power).
    zero_run_hours: int = 12
    # Stuck: stuck_slots zero slots in a row (3 hours) where every like day had at least
    # stuck_min_mwh in each (50 Wh: 100 W all the time, a meter that never rests there).
    stuck_slots: int = 6
    stuck_min_mwh: int = 50_000
    # HIGH, LOW, ZERO_RUN and STUCK judge reverse (export) rows too: off, because export
    # follows the weather and rests at zero every night, not the meter's habits.
    judge_reverse: bool = False
    # Ingest: a reading dated more than this (s) after its receipt is quarantined (5 minutes:
    # a unit's clock may be a little ahead, a reading from the future cannot be).
    future_tolerance_s: int = 300
    # Clock drift: a unit whose smallest (receipt - sent) over a 3-hour window of at least
    # drift_min_samples messages is beyond drift_limit_s either way (2 minutes: far above
    # network delay, well below a clock that shifts readings across a half hour).
    drift_limit_s: int = 120
    drift_min_samples: int = 5
    # Customer files: estimates written (else their slots are written as no value, N) ...
    write_estimates: bool = True
    # ... and questionable slots written as Q (else as A, for customers who take A/E/N only).
    write_questionable: bool = True
    _bits: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", frozenset(self.rules))  # a list from a file will do
        unknown = sorted(self.rules - ALL_RULES)
        if unknown:
            raise ValueError(
                f"rules: unknown {', '.join(unknown)}; choose from {', '.join(sorted(ALL_RULES))}"
            )
        for name, (lo, hi) in _RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name}: expected an integer from {lo} to {hi}, got {value!r}")
        if self.like_day_min_weeks > self.like_day_weeks:
            raise ValueError(
                f"like_day_min_weeks: expected at most like_day_weeks ({self.like_day_weeks}), "
                f"got {self.like_day_min_weeks}"
            )
        for flag in ("judge_reverse", "write_estimates", "write_questionable"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(  # noqa: TRY004 - settings errors are all ValueError
                    f"{flag}: expected true or false, got {getattr(self, flag)!r}"
                )
        object.__setattr__(self, "_bits", sum(RULE_NAMES[name] for name in self.rules))

    def enabled(self, rule: Rule) -> bool:
        """Whether ``rule`` runs."""
        return bool(self._bits & rule)

    @property
    def zero_run_slots(self) -> int:
        """The shortest zero run that fires: one slot longer than ``zero_run_hours``."""
        return self.zero_run_hours * 2 + 1


_MWH_LIMIT = 10**15  # far above any slot: a margin is never the reason of an overflow
_RANGES: dict[str, tuple[int, int]] = {
    "interpolation_max_slots": (0, 48),
    "like_day_weeks": (1, 8),
    "like_day_min_weeks": (1, 8),
    "spike_percent": (100, 100_000),
    "spike_margin_mwh": (0, _MWH_LIMIT),
    "high_percent": (100, 100_000),
    "high_margin_mwh": (0, _MWH_LIMIT),
    "low_percent": (0, 100),
    "low_min_mwh": (0, _MWH_LIMIT),
    "history_min_days": (1, 8),
    "zero_run_hours": (1, 240),
    "stuck_slots": (1, 50),
    "stuck_min_mwh": (1, _MWH_LIMIT),
    "future_tolerance_s": (0, 86_400),
    "drift_limit_s": (1, 86_400),
    "drift_min_samples": (1, 10_000),
}
SETTING_NAMES = tuple(f.name for f in fields(VeeSettings) if not f.name.startswith("_"))
