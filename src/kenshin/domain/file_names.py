"""The names of customers' day files, from their file patterns, and which days are kept."""

from __future__ import annotations

import string
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from kenshin.domain.manifest import MANIFEST_SUFFIX
from kenshin.domain.model import Customer
from kenshin.domain.slots import local_day, zone
from kenshin.errors import ExportError

FIELDS_ADVICE = (
    "use only {customer} (the customer id) and {date:...} (the local day, with strftime"
    " codes) or {date.year}, {date.month} and {date.day}, e.g. '{customer}_{date:%Y%m%d}.csv'"
)
_FORMATTER = string.Formatter()


def file_name(customer: Customer, day: date) -> str:
    """The name of the customer's file of ``day``, from its file pattern."""
    pattern = customer.file_pattern
    wrong = _pattern_problem(pattern)
    if wrong is None:
        try:
            name = pattern.format(customer=customer.id, date=day)
        except ValueError as exc:  # a format spec the day does not take
            wrong = str(exc)
    if wrong is not None:
        raise ExportError(
            f"file pattern {pattern!r} of customer {customer.id!r} is invalid ({wrong}): "
            + FIELDS_ADVICE
        )
    if (
        not name
        or name.startswith(".")
        or name.endswith(MANIFEST_SUFFIX)
        or any(c in name for c in "/\\\x00")
    ):
        raise ExportError(
            f"file pattern {pattern!r} of customer {customer.id!r} gives "
            f"{name!r}: a file name must not be empty, start with '.', hold a path "
            f"separator or end with {MANIFEST_SUFFIX!r}"
        )
    return name


# What a field may name: the customer's id, the day, and the day's year, month and day.
_FIELDS = ("customer", "date", "date.year", "date.month", "date.day")


def _pattern_problem(pattern: str) -> str | None:
    """What is wrong with the fields of ``pattern``, or None: each names one of _FIELDS
    (no other attribute, no index), with no conversion but ``!s`` and a format spec
    without fields of its own."""
    try:
        fields = [(f, c, spec) for _, f, spec, c in _FORMATTER.parse(pattern) if f is not None]
    except ValueError as exc:  # an unmatched brace
        return str(exc)
    for field, conversion, spec in fields:
        if field not in _FIELDS:
            return f"unknown field {{{field}}}"
        if conversion not in (None, "s"):
            return f"conversion !{conversion} of {{{field}}}"
        if spec and "{" in spec:
            return f"format {spec!r} of {{{field}}}"
    return None


# Days that differ in year, month or day only, and 11 January and 1 November (the same
# digits unpadded): a valid pattern names each differently.
_PATTERN_PROBES = (
    date(2026, 1, 31),
    date(2026, 2, 1),
    date(2027, 1, 31),
    date(2026, 1, 30),
    date(2026, 1, 11),
    date(2026, 11, 1),
)


def check_file_pattern(pattern: str, customer_id: str) -> None:
    """Raise ExportError unless ``pattern`` gives customer ``customer_id`` a valid,
    different file name for every day."""
    probe = Customer(customer_id, "probe", file_pattern=pattern)
    names = {file_name(probe, day) for day in _PATTERN_PROBES}
    if len(names) < len(_PATTERN_PROBES):
        raise ExportError(
            f"file pattern {pattern!r} of customer {customer_id!r} gives the same name to"
            " different days: it needs the "
            "whole date, e.g. '{customer}_{date:%Y%m%d}.csv'"
        )


def customer_zone(customer: Customer) -> ZoneInfo:
    """The customer's time zone; an unknown one is an ExportError naming the customer."""
    try:
        return zone(customer.timezone)
    except ValueError as exc:
        raise ExportError(f"customer {customer.id!r}: {exc}") from exc


def oldest_kept_day(customer: Customer, *, now: int, retention_days: int) -> date:
    """The oldest local day of the customer whose file is kept at ``now``."""
    return local_day(now, customer_zone(customer)) - timedelta(days=retention_days)
