"""Customer day files: exact bytes of the wide, long and NEM12 layouts."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kenshin.domain.csvcells import text_cell, text_cells
from kenshin.domain.csvfiles import render_day
from kenshin.domain.daytable import DayTable, day_table
from kenshin.domain.energy import format_kwh
from kenshin.domain.intervals import NO_REGISTER, MeterDay
from kenshin.domain.model import (
    Customer,
    Direction,
    FlagColumns,
    Labels,
    Layout,
    Meter,
    MeterSpec,
    SlotLabels,
)
from kenshin.domain.slots import DaySlots, day_slots, standard_day_slots, zone
from kenshin.errors import ExportError

DAY = date(2026, 11, 26)
TOKYO_DAY = day_slots(DAY, zone("Asia/Tokyo"))
CREATED = 1_795_576_800  # 2026-11-25T03:20:00Z, 12:20 in Tokyo
HALF_HOURS = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)]
FWD, REV = Direction.FWD, Direction.REV


def customer(**changes: object) -> Customer:
    fields: dict[str, object] = {"id": "C1", "name": "Acme", **changes}
    return Customer(**fields)  # type: ignore[arg-type]


def small_day() -> list[MeterDay]:
    """M-1 fwd: 1.234 kWh a slot but 0.0001 in slot 11 and none in slots 4-5; M-2 fwd + rev."""
    m1: list[int | None] = [1_234_000] * 48
    m1[3] = m1[4] = None
    m1[10] = 100
    return [
        MeterDay("M-2", REV, tuple([0] * 47 + [500_000])),
        MeterDay("M-1", FWD, tuple(m1)),
        MeterDay("M-2", FWD, tuple([1_000_000] * 48)),
    ]


def render(cust: Customer, days: list[MeterDay] | DayTable, slots: DaySlots = TOKYO_DAY) -> bytes:
    return render_day(cust, slots, days, created_at=CREATED).content


def rows_of(content: bytes, encoding: str = "utf-8") -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode(encoding), newline="")))


WIDE_EN = (
    "meter,date,direction," + ",".join(HALF_HOURS) + ",total_kwh,quality\r\n"
    "M-1,2026-11-26,fwd,"
    + ",".join(["1.234"] * 3 + ["", ""] + ["1.234"] * 5 + ["0.0001"] + ["1.234"] * 37)
    + ",55.5301,AAANN"
    + "A" * 43
    + "\r\n"
    "M-2,2026-11-26,fwd," + ",".join(["1.000"] * 48) + ",48.000," + "A" * 48 + "\r\n"
    "M-2,2026-11-26,rev," + ",".join(["0.000"] * 47 + ["0.500"]) + ",0.500," + "A" * 48 + "\r\n"
)


def test_wide_file_is_exact_sorted_by_meter_then_fwd_before_rev() -> None:
    assert render(customer(), small_day()).decode("utf-8") == WIDE_EN


@pytest.mark.parametrize(
    ("encoding", "prefix"), [("utf-8", b""), ("utf-8-sig", b"\xef\xbb\xbf"), ("cp932", b"")]
)
def test_japanese_labels_in_each_encoding(encoding: str, prefix: bytes) -> None:
    content = render(customer(labels=Labels.JA, encoding=encoding), small_day())
    header = "計器ID,日付,方向," + ",".join(HALF_HOURS) + ",合計kWh,品質\r\n"
    # The direction as Japanese customers read it: 買電 bought (fwd), 売電 sold (rev).
    body = WIDE_EN.split("\r\n", 1)[1].replace(",fwd,", ",買電,").replace(",rev,", ",売電,")
    assert content == prefix + (header + body).encode("cp932" if encoding == "cp932" else "utf-8")


def test_cp932_bytes_of_the_japanese_meter_label() -> None:
    content = render(customer(labels=Labels.JA, encoding="cp932"), small_day())
    assert content.startswith(b"\x8cv\x8a\xedID,\x93\xfa\x95t,")


@pytest.mark.parametrize("layout", list(Layout))
def test_every_line_ends_in_crlf(layout: Layout) -> None:
    content = render(customer(layout=layout), small_day())
    assert content.endswith(b"\r\n")
    assert content.count(b"\n") == content.count(b"\r\n") == content.count(b"\r")


@pytest.mark.parametrize(
    ("day", "count", "around"),
    [
        (date(2026, 3, 29), 46, "01:00,01:30,03:00,03:30"),
        (date(2026, 10, 25), 50, "01:30,02:00+02:00,02:30+02:00,02:00+01:00,02:30+01:00,03:00"),
    ],
)
def test_dst_days_have_their_own_slot_columns(day: date, count: int, around: str) -> None:
    slots = day_slots(day, zone("Europe/Berlin"))
    days = [MeterDay("M-1", FWD, tuple([1_000] * count))]
    rows = rows_of(render(customer(timezone="Europe/Berlin"), days, slots))
    assert len(rows[0]) == 3 + count + 2
    assert around in ",".join(rows[0])
    assert rows[1][-2:] == [f"{count / 1000:.3f}", "A" * count]


def test_a_row_without_any_value_has_an_empty_total() -> None:
    days = [MeterDay("M-1", FWD, (None,) * 48), MeterDay("M-1", REV, (None,) * 47 + (0,))]
    rows = rows_of(render(customer(), days))
    assert rows[1][-2:] == ["", "N" * 48]  # nothing measured: no total, not 0.000
    assert rows[2][-2:] == ["0.000", "N" * 47 + "A"]  # one slot of 0 kWh: a total of 0
    big = DayTable(("M-1",), (FWD,), np.array([[0] * 48], object), np.full((1, 48), 78, np.uint8))
    assert rows_of(render(customer(), big))[1][-2:] == ["", "N" * 48]  # Python ints too


@pytest.mark.parametrize(
    ("slot_labels", "labels"),
    [
        (SlotLabels.START, HALF_HOURS),
        (SlotLabels.END, [*HALF_HOURS[1:], "24:00"]),
        (SlotLabels.NUMBER, [str(n) for n in range(1, 49)]),
    ],
)
def test_slot_columns_are_labelled_by_start_end_or_number(
    slot_labels: SlotLabels, labels: list[str]
) -> None:
    rows = rows_of(render(customer(slot_labels=slot_labels, labels=Labels.JA), small_day()))
    assert rows[0] == ["計器ID", "日付", "方向", *labels, "合計kWh", "品質"]


@pytest.mark.parametrize(
    ("day", "count", "around"),
    [
        (date(2026, 3, 29), 46, "00:30,01:00,01:30,03:00,03:30"),
        (date(2026, 10, 25), 50, "02:00+02:00,02:30+02:00,02:00+01:00,02:30+01:00,03:00"),
    ],
)
def test_end_and_number_labels_stay_unambiguous_on_dst_days(
    day: date, count: int, around: str
) -> None:
    slots = day_slots(day, zone("Europe/Berlin"))
    days = [MeterDay("M-1", FWD, tuple([1_000] * count))]
    for kind in (SlotLabels.END, SlotLabels.NUMBER):
        cust = customer(timezone="Europe/Berlin", slot_labels=kind)
        header = rows_of(render(cust, days, slots))[0][3:-2]
        assert len(header) == len(set(header)) == count
        assert header[-1] == ("24:00" if kind == SlotLabels.END else str(count))
    end = customer(timezone="Europe/Berlin", slot_labels=SlotLabels.END)
    assert around in ",".join(rows_of(render(end, days, slots))[0])


def test_per_slot_flags_follow_each_slots_kwh() -> None:
    text = render(customer(flags=FlagColumns.PER_SLOT), small_day()).decode()
    header, m1, m2, m2_rev, end = text.split("\r\n")
    flag_labels = [f"{t} quality" for t in HALF_HOURS]
    assert header.split(",") == [
        "meter",
        "date",
        "direction",
        *[c for pair in zip(HALF_HOURS, flag_labels, strict=True) for c in pair],
        "total_kwh",
    ]
    assert m1 == (
        "M-1,2026-11-26,fwd,"
        + "1.234,A," * 3
        + ",N," * 2
        + "1.234,A," * 5
        + "0.0001,A,"
        + "1.234,A," * 37
        + "55.5301"
    )
    assert m2 == "M-2,2026-11-26,fwd," + "1.000,A," * 48 + "48.000"
    assert m2_rev == "M-2,2026-11-26,rev," + "0.000,A," * 47 + "0.500,A,0.500"
    assert end == ""


@pytest.mark.parametrize(
    ("meter", "cell"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+81", "'+81"),
        ("-1", "'-1"),
        ("@SUM", "'@SUM"),
        ("\tx", "'\tx"),
        ("\rx", '"\'\rx"'),
        ('a,"b"', '"a,""b"""'),
        ("M-=1", "M-=1"),
    ],
)
def test_text_cells_are_defused_and_quoted(meter: str, cell: str) -> None:
    assert text_cell(meter) == cell
    content = render(customer(), [MeterDay(meter, FWD, tuple([1] * 48))])
    assert content.decode().split("\r\n", 1)[1].startswith(cell + ",2026-11-26,fwd,")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@settings(max_examples=200)
@given(st.text(st.characters(blacklist_characters="\x00"), min_size=1))
def test_a_text_cell_is_minimal_csv_and_never_a_formula(value: str) -> None:
    shown = "'" + value if value.startswith(FORMULA_STARTS) else value
    written = io.StringIO()
    csv.writer(written, lineterminator="\r\n").writerow([shown, "x"])
    assert text_cell(value) + ",x\r\n" == written.getvalue()
    [read] = list(csv.reader(io.StringIO(written.getvalue(), newline="")))
    assert read == [shown, "x"]
    assert not read[0].startswith(FORMULA_STARTS)


@pytest.mark.parametrize(
    ("decimals", "mwh", "text"),
    [
        (3, 100, "0.0001"),
        (3, 1_000_000, "1.000"),
        (0, 1_000_000, "1"),
        (0, 1_500_000, "1.5"),
        (6, 1, "0.000001"),
        (3, 12_345_678_901, "12345.678901"),
    ],
)
def test_values_are_exact_kwh(decimals: int, mwh: int, text: str) -> None:
    days = [MeterDay("M-1", FWD, (mwh,) + (None,) * 47)]
    [_, row] = rows_of(render(customer(decimals=decimals), days))
    assert row[3:5] == [text, ""]
    assert row[-2:] == [text, "A" + "N" * 47]


def test_long_layout_has_one_row_per_meter_direction_and_slot() -> None:
    rows = rows_of(render(customer(layout=Layout.LONG), small_day()))
    assert rows[0] == ["meter", "direction", "date", "start", "end", "kwh", "quality"]
    assert len(rows) == 1 + 3 * 48
    assert rows[1] == [
        "M-1",
        "fwd",
        "2026-11-26",
        "2026-11-26T00:00:00+09:00",
        "2026-11-26T00:30:00+09:00",
        "1.234",
        "A",
    ]
    assert rows[4][5:] == ["", "N"]
    assert rows[11][5] == "0.0001"
    assert rows[-1] == [
        "M-2",
        "rev",
        "2026-11-26",
        "2026-11-26T23:30:00+09:00",
        "2026-11-27T00:00:00+09:00",
        "0.500",
        "A",
    ]


def test_long_layout_in_japanese_across_a_dst_change() -> None:
    slots = day_slots(date(2026, 10, 25), zone("Europe/Berlin"))
    days = [MeterDay("M-1", FWD, tuple([1_000] * 50))]
    cust = customer(layout=Layout.LONG, labels=Labels.JA, timezone="Europe/Berlin")
    rows = rows_of(render(cust, days, slots))
    assert rows[0] == ["計器ID", "方向", "日付", "開始", "終了", "電力量kWh", "品質"]
    assert {r[1] for r in rows[1:]} == {"買電"}
    starts = [r[3] for r in rows[5:9]]
    assert starts == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
    ]


NEM12_SMALL = (
    "100,NEM12,202611251220,KENSHIN,C1\r\n"
    "200,M-1,E1,E1,E1,,M-1,KWH,30,\r\n"
    "300,20261126,"
    + ",".join(["1.234"] * 3 + ["0.000"] * 2 + ["1.234"] * 5 + ["0.0001"] + ["1.234"] * 37)
    + ",V,,,20261125122000,\r\n"
    "400,1,3,A,,\r\n400,4,5,N,,\r\n400,6,48,A,,\r\n"
    "200,M-2,E1B1,E1,E1,,M-2,KWH,30,\r\n"
    "300,20261126," + ",".join(["1.000"] * 48) + ",A,,,20261125122000,\r\n"
    "200,M-2,E1B1,B1,B1,,M-2,KWH,30,\r\n"
    "300,20261126," + ",".join(["0.000"] * 47 + ["0.500"]) + ",A,,,20261125122000,\r\n"
    "900\r\n"
)


def test_nem12_file_is_exact() -> None:
    assert render(customer(layout=Layout.NEM12), small_day()).decode() == NEM12_SMALL


def test_nem12_content_key_ignores_the_publication_time_only() -> None:
    cust = customer(layout=Layout.NEM12)
    first = render_day(cust, TOKYO_DAY, small_day(), created_at=CREATED)
    later = render_day(cust, TOKYO_DAY, small_day(), created_at=CREATED + 86_400)
    assert first.content != later.content
    assert first.content_key == later.content_key
    assert first.sha256 == hashlib.sha256(first.content).hexdigest() != first.content_key
    other = render_day(cust, TOKYO_DAY, small_day()[1:], created_at=CREATED)
    assert other.content_key != first.content_key


def test_wide_content_key_is_the_sha256_of_the_file() -> None:
    rendered = render_day(customer(), TOKYO_DAY, small_day(), created_at=CREATED)
    assert rendered.content_key == hashlib.sha256(rendered.content).hexdigest()
    assert (rendered.rows, rendered.slots, rendered.actual_slots) == (3, 144, 142)


@settings(max_examples=30)
@given(st.permutations(small_day()))
def test_order_of_the_meter_days_changes_no_byte(days: list[MeterDay]) -> None:
    for layout in Layout:
        assert render(customer(layout=layout), days) == render(customer(layout=layout), small_day())


def test_unencodable_cell_is_named() -> None:
    days = [*small_day(), MeterDay("M-☃", FWD, tuple([1] * 48))]
    with pytest.raises(ExportError, match=r"line 5, column 1 \('M-☃'\).*cp932"):
        render(customer(encoding="cp932"), days)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"encoding": "latin-1"}, "unknown encoding"),
        ({"decimals": 7}, "decimals"),
        ({"layout": "xml"}, "unknown layout"),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ExportError, match=message):
        render(customer(**changes), small_day())


def test_a_customer_without_meters_gets_the_header_alone() -> None:
    assert render(customer(), []) == WIDE_EN.split("\r\n", 1)[0].encode() + b"\r\n"
    nem12 = render_day(customer(layout=Layout.NEM12), TOKYO_DAY, [], created_at=CREATED)
    assert nem12.content == b"100,NEM12,202611251220,KENSHIN,C1\r\n900\r\n"
    assert (nem12.rows, nem12.slots, nem12.actual_slots) == (0, 0, 0)


def test_nem12_on_a_short_dst_day_has_48_values_in_standard_time() -> None:
    berlin = zone("Europe/Berlin")
    cust = customer(layout=Layout.NEM12, timezone="Europe/Berlin")
    # Slots of neither cut (another zone's day); a local day is that of a day first
    # written before NEM12 days were cut in standard time.
    with pytest.raises(ExportError, match="48 half hours of 2026-03-29 in standard time"):
        render(cust, [], day_slots(date(2026, 3, 29), zone("Asia/Tokyo")))
    slots = standard_day_slots(date(2026, 3, 29), berlin)
    assert (slots.start, slots.count) == (1_774_738_800, 48)  # 2026-03-28T23:00Z
    days = [MeterDay("M-1", FWD, (None,) + (1_000,) * 47)]
    records = render(cust, days, slots).decode().split("\r\n")
    [record_300] = [r for r in records if r.startswith("300,")]
    assert record_300.split(",")[2:51] == ["0.000"] + ["0.001"] * 47 + ["V"]
    assert [r for r in records if r.startswith("400,")] == ["400,1,1,N,,", "400,2,48,A,,"]
    # Times in standard time (UTC+1) in summer too: CREATED is 03:20Z.
    summer = standard_day_slots(date(2026, 7, 1), berlin)
    stamped = render_day(cust, summer, [], created_at=summer.start + 3_600).content
    assert stamped.startswith(b"100,NEM12,202607010100,")


def test_a_meter_day_of_another_length_is_refused() -> None:
    with pytest.raises(ExportError, match="'M-1' has 47 slot values; 2026-11-26 has 48"):
        render(customer(), [MeterDay("M-1", FWD, (1,) * 47)])


@given(st.lists(st.text(alphabet=st.sampled_from("ab=+-@\t\r\n,\"' 1"), max_size=4), max_size=6))
def test_a_column_of_text_cells_reads_as_each_cell_alone(values: list[str]) -> None:
    assert list(text_cells(values)) == [text_cell(v) for v in values]


def test_a_meter_beyond_int64_is_written_exactly() -> None:
    # 10,000 kWh register steps and a CT ratio of 999,999: a slot beyond 2**63 mWh.
    meter = Meter("M-1", "U-1", MeterSpec(10**10, 999_999, 8))
    fwd = np.array([[0, 99_999_999, *[NO_REGISTER] * 47]], np.uint32)
    table = day_table([meter], fwd, np.full_like(fwd, NO_REGISTER))
    mwh = 99_999_999 * 10**10 * 999_999
    assert mwh > 2**63
    [row] = rows_of(render(customer(), table))[1:]
    assert row[3:5] == [format_kwh(mwh), ""]
    assert row[-2:] == [format_kwh(mwh), "A" + "N" * 47]
