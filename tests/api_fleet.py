"""A site with a small fleet imported through the real ingest, and the admin API on it
(in process, SQLite), for the tests of the fleet's routes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from conftest import kenshin, make_site
from kenshin.bootstrap import App, open_app
from kenshin.domain.operators import Role
from kenshin.domain.slots import day_slots, zone
from kenshin.entrypoints.api.app import make_api
from kenshin.entrypoints.api.auth import Principal, current_principal
from kenshin.entrypoints.api.context import ApiContext

TOKYO = zone("Asia/Tokyo")
GAP = (10, 11)  # M-1 misses the readings at these boundaries: VEE estimates 3 slots
STEPS = [3 + (i % 5) for i in range(48)]  # register steps of 0.1 kWh in each slot


def recent_day() -> date:
    """A Tokyo day three days back: final, and well within the files' retention."""
    return datetime.now(TOKYO).date() - timedelta(days=3)


def reading_messages(day: date, device: str = "U-1", gap: tuple[int, ...] = GAP) -> str:
    """JSON lines of the day's readings of M-1 (with ``gap``) and M-2, each slot a step."""
    slots = day_slots(day, TOKYO)
    blocks = []
    for meter, skip in (("M-1", gap), ("M-2", ())):
        register, readings = 5_000, []
        for index in range(49):
            if index not in skip:
                t = datetime.fromtimestamp(slots.start + index * 1800, TOKYO).isoformat()
                readings.append({"t": t, "fwd": register})
            register += STEPS[index] if index < 48 else 0
        blocks.append(
            {"meter": meter, "unit": "0.1kWh", "coefficient": 1, "digits": 6, "readings": readings}
        )
    sent = datetime.fromtimestamp(slots.end + 60, UTC).isoformat()
    return json.dumps({"v": 1, "device": device, "seq": 1, "sent": sent, "meters": blocks}) + "\n"


def fleet_site(tmp_path: Path, day: date, *, export: bool = True) -> Path:
    """Customer C-001 with unit U-1 (meters M-1 and M-2) and a silent unit U-2, the day's
    readings imported, and (``export``) the day's file published."""
    site = make_site(tmp_path, "site")
    assert kenshin(site, "devices", "add", "U-1", "U-2", "--customer", "C-001").exit_code == 0
    messages = tmp_path / "day.jsonl"
    messages.write_text(reading_messages(day))
    done = kenshin(site, "import", str(messages))
    assert done.exit_code == 0, done.output
    if export:
        done = kenshin(site, "export", "--customer", "C-001", "--date", day.isoformat())
        assert done.exit_code == 0, done.output
    return site


# The principal is given by the test (dependency_overrides); a request still carries
# credentials, as the API refuses one without any before its routes.
STAND_IN = {"Authorization": "Bearer ksn_stand-in"}


def as_role(role: Role, name: str = "ops") -> Principal:
    return Principal(name, role, "session", "192.0.2.7")


@contextmanager
def api_client(site: Path, role: Role = Role.VIEWER) -> Iterator[tuple[TestClient, App]]:
    """The admin API on the site, every request made by an operator of ``role``."""
    app = open_app(site / "kenshin.toml")
    try:
        api = make_api(ApiContext(app))
        api.dependency_overrides[current_principal] = lambda: as_role(role)
        with TestClient(api, headers=STAND_IN) as client:
            yield client, app
    finally:
        app.close()


def file_rows(site: Path, day: date) -> dict[str, list[str]]:
    """The rows of C-001's file of ``day``, split in cells, by meter."""
    text = (site / "outbox" / "C-001" / f"C-001_{day:%Y%m%d}.csv").read_text()
    rows = [line.split(",") for line in text.splitlines()[1:] if line]
    return {row[0]: row for row in rows}
