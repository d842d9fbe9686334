"""Gathering a day's report from the store: files not collected, meters VEE cannot take,
and the refusals of what cannot be reported."""

from __future__ import annotations

import json
from datetime import date

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.accounts import Account, Receipt
from kenshin.domain.model import Customer, Device, FileRevision, Meter, MeterSpec, Reading
from kenshin.domain.report_render import render_text
from kenshin.domain.slots import day_start, zone
from kenshin.services.ingest import Incoming, Ingest
from kenshin.services.report import ReportError, ReportSettings, customer_quality, gather_report

TZ = zone("Asia/Tokyo")


def final(customer: str, day: str) -> FileRevision:
    name = f"{customer}_{day.replace('-', '')}.csv"
    return FileRevision(customer, day, 1, "final", name, "0" * 64, "k", 1, 48, 48, 0)


def test_files_not_collected_by_their_deadline_are_listed() -> None:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "One"))
    store.deliveries.save_account(Account("C-1", password_hash="x"))
    store.revisions.add_revision(final("C-1", "2026-11-24"))
    store.revisions.add_revision(final("C-1", "2026-11-25"))
    collected = day_start(date(2026, 11, 26), TZ) + 3600  # 01:00, in time
    store.deliveries.add_receipt(Receipt("C-1", "C-1_20261125.csv", 1, 10, "sftp", "x", collected))
    eight = day_start(date(2026, 11, 27), TZ) + 8 * 3600
    report = gather_report(store, date(2026, 11, 26), now=eight)
    [customer] = report.customers
    assert [f.file_name for f in customer.not_collected] == ["C-1_20261124.csv"]
    assert "  - customer C-1: C-1_20261124.csv (revision 1), due 2026-11-25 12:00+09:00" in (
        render_text(report).splitlines()
    )
    # Made again later for the same day, it says the same.
    again = gather_report(store, date(2026, 11, 26), now=eight + 30 * 86400)
    assert again.customers[0].not_collected == customer.not_collected


def test_bad_settings_and_unknown_customers_are_refused_with_the_fix() -> None:
    with pytest.raises(ReportError, match=r"report address 'ops': expected name@domain"):
        ReportSettings(recipients=("ops",))
    with pytest.raises(ReportError, match=r"silent_hours: expected 1 to 24, got 0"):
        ReportSettings(silent_hours=0)
    with pytest.raises(ReportError, match=r"unknown time zone 'Mars/Base'"):
        ReportSettings(timezone="Mars/Base")
    with pytest.raises(ReportError, match=r"no customer 'C-9': see 'kenshin customers list'"):
        gather_report(MemoryStore(), date(2026, 11, 26), now=0, customer_id="C-9")


def test_a_meter_too_large_for_vee_still_shows_its_gaps() -> None:
    store = MemoryStore()
    customer = Customer("C-1", "One")
    store.registry.add_customer(customer)
    store.registry.add_device(Device("U-1", "C-1"))
    # 0.1 kWh x 1,000,000 on 8 digits: a register turn too large for VEE's int64 arithmetic.
    store.registry.save_meters([Meter("M-1", "U-1", MeterSpec(100_000, 1_000_000, 8))])
    start = day_start(date(2026, 11, 26), TZ)
    read = [j for j in range(49) if j not in {20, 21}]
    store.readings.add_readings([Reading("M-1", start + 1800 * j, j, None) for j in read], start)
    quality = customer_quality(store, customer, date(2026, 11, 26), now=start + 2 * 86400)
    [meter] = quality.problems
    assert (meter.missing, meter.estimated, meter.questionable) == (3, 0, 0)
    assert meter.rules == {"missing": 3}
    assert (meter.first_missing, meter.missing_from) == (19, None)
    assert quality.silent == {}


def test_beside_a_meter_too_large_for_vee_the_others_are_still_estimated() -> None:
    """As the customer's file shows them: the large meter's gap missing, not estimated,
    and the other meter's gap estimated."""
    store = MemoryStore()
    customer = Customer("C-1", "One")
    store.registry.add_customer(customer)
    store.registry.add_device(Device("U-1", "C-1"))
    small, large = MeterSpec(100_000, 1, 6), MeterSpec(100_000, 1_000_000, 8)
    store.registry.save_meters([Meter("M-1", "U-1", small), Meter("M-2", "U-1", large)])
    start = day_start(date(2026, 11, 26), TZ)
    read = [j for j in range(49) if j not in {20, 21}]
    store.readings.add_readings(
        [Reading(m, start + 1800 * j, j, None) for m in ("M-1", "M-2") for j in read], start
    )
    quality = customer_quality(store, customer, date(2026, 11, 26), now=start + 2 * 86400)
    found = {m.meter: (m.missing, m.estimated) for m in quality.problems}
    assert found == {"M-1": (3, 3), "M-2": (3, 0)}


def reading_message(device: str, seq: int) -> bytes:
    """A unit's message of one reading of meter M-<device> at 12:30 on 2026-11-26 (Tokyo)."""
    document = {
        "v": 1,
        "device": device,
        "seq": seq,
        "sent": "2026-11-26T12:30:04+09:00",
        "meters": [
            {
                "meter": f"M-{device}",
                "unit": "0.1kWh",
                "coefficient": 1,
                "digits": 6,
                "readings": [{"t": "2026-11-26T12:30:00+09:00", "fwd": 100 + seq, "rev": 0}],
            }
        ],
    }
    return json.dumps(document).encode()


def test_the_days_dead_letters_and_unknown_devices_are_reported_with_the_fix() -> None:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "One"))
    noon = day_start(date(2026, 11, 26), TZ) + 12 * 3600 + 1800
    ingest = Ingest(store)
    ingest.ingest(
        [
            Incoming("mqtt:1", reading_message("U-404", 1), noon + 10),
            Incoming("mqtt:2", reading_message("U-404", 2), noon + 1810),
            Incoming("mqtt:3", b"{not json", noon + 20),
            Incoming("mqtt:4", reading_message("U-405", 1), noon - 86_400),  # the day before
        ]
    )
    assert store.dead_letters.count_dead_letters() == 4
    eight = day_start(date(2026, 11, 27), TZ) + 8 * 3600
    report = gather_report(store, date(2026, 11, 26), now=eight, events=[])
    text = render_text(report).splitlines()
    assert text[4] == "0 silent units, 0 files not collected, 0 security events."
    assert text[5] == "3 dead letters, 1 unknown device."
    unknown = text.index("Unknown devices")
    assert text[unknown + 1] == (
        "  - U-404: 2 messages not used, the last at 13:00; if it is one of yours, register it:"
        " kenshin devices add U-404 --customer CUSTOMER"
    )
    letters = text.index("Dead letters (messages not used)")
    assert text[letters + 1].startswith("  - messages naming no device: 1 message, at 12:30: ")
    assert text[letters + 2] == "  - each with its reason: kenshin dead-letters"
    assert "U-405" not in "\n".join(text)
