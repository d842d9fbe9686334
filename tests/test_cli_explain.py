"""``kenshin explain``: an operator asks why a slot shows what it shows."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import kenshin, make_site


def message(times: list[str], start: int) -> dict[str, object]:
    readings = [
        {"t": f"2026-11-26T{t}:00+09:00", "fwd": start + 12 * i} for i, t in enumerate(times)
    ]
    return {
        "v": 1,
        "device": "U-1",
        "seq": 1,
        "sent": "2026-11-26T13:00:04+09:00",
        "meters": [
            {"meter": "M-1", "unit": "0.1kWh", "coefficient": 1, "digits": 6, "readings": readings}
        ],
    }


def site_with_a_gap(tmp_path: Path) -> Path:
    """M-1 read at 09:00, 09:30 and 11:00, 11:30: 10:00 and 10:30 are missing."""
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    lines = [message(["09:00", "09:30"], 1_000), message(["11:00", "11:30"], 1_060)]
    path = tmp_path / "m.jsonl"
    path.write_text("".join(json.dumps(m) + "\n" for m in lines))
    assert kenshin(site, "import", str(path)).exit_code == 0
    return site


def test_an_estimated_slot_shows_its_readings_rules_method_and_revisions(tmp_path: Path) -> None:
    site = site_with_a_gap(tmp_path)
    assert kenshin(site, "export", "--customer", "C-001", "--date", "2026-11-26").exit_code == 0
    shown = kenshin(site, "explain", "M-1", "--slot", "2026-11-26 10:00")
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "meter M-1 (device U-1, customer C-001)"
    assert lines[1] == (
        "slot 2026-11-26 10:00-10:30 Asia/Tokyo (2026-11-26T01:00:00Z to 2026-11-26T01:30:00Z)"
    )
    assert "  2026-11-26T09:30:00+09:00  fwd 1012  rev -" in lines
    assert "  2026-11-26T11:00:00+09:00  fwd 1060  rev -" in lines
    # 4.8 kWh over the three slots 09:30-11:00, in whole Wh: 1.600 each.
    assert "  fwd: 1.600 kWh, flag E (missing, estimated by linear interpolation)" in lines
    assert lines[-1].startswith("  1  ")
    assert lines[-1].endswith("C-001_20261126.csv  3 estimated")


def test_a_slot_that_does_not_start_on_the_half_hour_is_refused(tmp_path: Path) -> None:
    site = site_with_a_gap(tmp_path)
    refused = kenshin(site, "explain", "M-1", "--slot", "2026-11-26 10:15")
    assert refused.exit_code == 2
    assert "no slot of 2026-11-26 starts at 10:15 in Asia/Tokyo" in refused.output
    refused = kenshin(site, "explain", "M-1", "--slot", "yesterday")
    assert "expected the slot's local start as 'YYYY-MM-DD HH:MM'" in refused.output
    refused = kenshin(site, "explain", "M-9", "--slot", "2026-11-26 10:00")
    assert "no meter 'M-9'" in refused.output


def test_a_meter_too_large_for_vee_is_explained_as_read(tmp_path: Path) -> None:
    """0.1 kWh x 8,000 on 8 digits (a high-voltage meter): a register turn too large for
    VEE's 64-bit sums, so its gap is not estimated, and explain says why."""
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "--customer", "C-001").exit_code == 0
    document = message(["09:00", "09:30", "11:00", "11:30"], 1_000)
    meters: list[dict[str, object]] = document["meters"]  # type: ignore[assignment]
    meters[0] |= {"coefficient": 8000, "digits": 8}
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(document) + "\n")
    assert kenshin(site, "import", str(path)).exit_code == 0
    shown = kenshin(site, "explain", "M-1", "--slot", "2026-11-26 10:00")
    assert shown.exit_code == 0, shown.output
    assert "  fwd: no value, flag N (not validated: the meter's register turn is too large for" in (
        shown.output
    )


def test_an_hour_that_comes_twice_asks_for_its_offset(tmp_path: Path) -> None:
    site = site_with_a_gap(tmp_path)
    assert kenshin(site, "customers", "set", "C-001", "--timezone", "Europe/Berlin").exit_code == 0
    refused = kenshin(site, "explain", "M-1", "--slot", "2026-10-25 02:00")
    assert refused.exit_code != 0
    assert (
        "02:00 comes twice on 2026-10-25 in Europe/Berlin (the clocks go back):"
        " give 02:00+02:00 or 02:00+01:00"
    ) in refused.output
    shown = kenshin(site, "explain", "M-1", "--slot", "2026-10-25 02:00+01:00")
    assert shown.exit_code == 0, shown.output
    assert "slot 2026-10-25 02:00+01:00-02:30 Europe/Berlin (2026-10-25T01:00:00Z" in shown.output
