"""The customer file layouts, each one module with its renderer, its parser and its
change reader.

A new layout is a module like ``wide`` (``render``, ``parse``, ``changes`` and its
``LAYOUT``), a member of ``model.Layout`` and one line in ``LAYOUTS``; its tests render
days, parse them back and read their changes (tests/test_layouts.py does it for every
registered layout).
"""

from __future__ import annotations

from kenshin.domain.layouts import long, nem12, wide
from kenshin.domain.layouts.base import FileLayout, ParsedDay
from kenshin.domain.model import Customer, Layout
from kenshin.errors import ExportError

LAYOUTS: dict[Layout, FileLayout] = {
    Layout.WIDE: wide.LAYOUT,
    Layout.LONG: long.LAYOUT,
    Layout.NEM12: nem12.LAYOUT,
}


def layout_of(customer: Customer) -> FileLayout:
    """The customer's layout; ExportError if no layout has that name."""
    return layout_named(customer.layout)


def layout_named(name: Layout) -> FileLayout:
    """The layout registered as ``name``; ExportError if none is."""
    try:
        return LAYOUTS[name]
    except KeyError:
        raise ExportError(f"unknown layout {name!r}: use one of {[*map(str, LAYOUTS)]}") from None


def parse_day(customer: Customer, content: bytes) -> ParsedDay:
    """What a day file of the customer holds, read back in its encoding and layout."""
    try:
        text = content.decode(customer.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ExportError(f"the file cannot be read as {customer.encoding}: {exc}") from exc
    return layout_of(customer).parse(text, customer)
