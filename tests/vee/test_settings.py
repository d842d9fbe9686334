"""Settings refuse a bad value with the field's name and range."""

from __future__ import annotations

import pytest

from kenshin.domain.vee import ALL_RULES, Rule, VeeSettings, rule_names
from kenshin.domain.vee.settings import SETTING_NAMES


def test_the_defaults_run_every_rule() -> None:
    defaults = VeeSettings()
    assert all(defaults.enabled(rule) for rule in Rule)
    assert defaults.zero_run_slots == 25  # more than 12 hours
    assert "write_estimates" in SETTING_NAMES


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "interpolation_max_slots",
            -1,
            "interpolation_max_slots: expected an integer from 0 to 48",
        ),
        ("like_day_weeks", 9, "like_day_weeks: expected an integer from 1 to 8, got 9"),
        ("spike_percent", 99, "spike_percent: expected an integer from 100"),
        ("low_percent", 101, "low_percent: expected an integer from 0 to 100"),
        ("zero_run_hours", 2.5, "zero_run_hours: expected an integer"),
        ("stuck_slots", True, "stuck_slots: expected an integer"),
        ("like_day_min_weeks", 4, "like_day_min_weeks: expected at most like_day_weeks"),
        ("write_estimates", "yes", "write_estimates: expected true or false"),
        ("rules", frozenset({"spike", "typo"}), "rules: unknown typo; choose from"),
    ],
)
def test_a_bad_setting_is_named_with_its_range(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VeeSettings(**{field: value})  # type: ignore[arg-type]


def test_rules_can_be_turned_off_by_name() -> None:
    settings = VeeSettings(rules=ALL_RULES - {"stuck"})
    assert not settings.enabled(Rule.STUCK)
    assert settings.enabled(Rule.SPIKE)
    listed = VeeSettings(rules=["missing", "sum"])  # type: ignore[arg-type]
    assert listed.rules == frozenset({"missing", "sum"})
    assert [listed.enabled(r) for r in (Rule.MISSING, Rule.SUM, Rule.LOW)] == [True, True, False]


def test_rule_bits_read_back_as_names() -> None:
    assert rule_names(Rule.MISSING | Rule.CLOCK) == ["missing", "clock"]
    assert rule_names(0) == []
