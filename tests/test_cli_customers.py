"""The command line on customers' files: what `kenshin export` prints, and
`kenshin customers set` changing a customer's file settings."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import kenshin, make_site

TOKYO = ZoneInfo("Asia/Tokyo")


def readings_file(path: Path, skip: tuple[int, ...] = ()) -> tuple[Path, str]:
    """One message of meter M-1 on unit U-1: yesterday's boundaries in Tokyo, 1.2 kWh a
    slot, but for the skipped boundaries; the file and yesterday's date."""
    day = datetime.now(TOKYO).date() - timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=TOKYO)
    readings = [
        {"t": (start + timedelta(minutes=30 * i)).isoformat(), "fwd": 5_000 + 12 * i, "rev": 0}
        for i in range(49)
        if i not in skip
    ]
    message = {
        "v": 1,
        "device": "U-1",
        "seq": 1,
        "sent": start.isoformat(),
        "meters": [
            {"meter": "M-1", "unit": "0.1kWh", "coefficient": 1, "digits": 6, "readings": readings}
        ],
    }
    path.write_text(json.dumps(message) + "\n")
    return path, day.isoformat()


def test_export_counts_estimated_slots_among_those_with_a_value(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "--customer", "C-001", "U-1").exit_code == 0
    messages, day = readings_file(tmp_path / "m.jsonl", skip=(20,))  # slots 20-21 estimated
    assert kenshin(site, "import", str(messages)).exit_code == 0
    result = kenshin(site, "export", "--customer", "C-001", "--date", day)
    assert result.exit_code == 0, result.output
    # fwd and rev rows: 96 slots, every one with a value, 4 of them estimated
    assert "96/96 slots with a value (4 estimated)" in result.output
