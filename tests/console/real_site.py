"""A site with a fleet, made through the real ingest, served by the real admin API and
console: for looking at the pages (and photographing them, ``screens.py``).

    PYTHONPATH=src python -m tests.console.real_site [--dir DIR]

Customer C-001 (Asia/Tokyo) with units U-101 to U-104 of five meters each (M-0101 ...
M-0405) and U-105, registered and never heard; each unit has its certificate (files in
``units/``). The units sent the readings of the day
before yesterday and of yesterday (each message received a minute after the day's end),
and U-101 to U-103 those of today so far, received minutes ago: they are online; U-104
stopped after the day before yesterday: silent. M-0102 missed three readings yesterday
(VEE estimates the slots between), M-0305 sends a reverse register too (solar). Both
days' files are exported, the older one collected. A message from an unknown unit is a
dead letter; a wrong password through the API a security event. One alert round runs
(U-104's silence is an open alert). Users (password ``PASSWORD``): ``admin``,
``operator`` and ``viewer`` (TOTP codes from ``SECRETS``), and ``newop``, an operator
who enrols an authenticator at the first sign-in.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from kenshin.bootstrap import App, open_app
from kenshin.domain.accounts import Receipt
from kenshin.domain.observations import Observations
from kenshin.domain.operators import Actor, Role
from kenshin.domain.slots import day_slots, zone
from kenshin.domain.totp import code_at
from kenshin.entrypoints.cli import cli
from kenshin.services.alerting import Alerting
from kenshin.services.incoming import Incoming
from kenshin.services.operators import add_operator, keeping_of

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # run as a module: served_api sits in tests/
    sys.path.insert(0, str(TESTS))
from served_api import served  # noqa: E402 - after the path above

TOKYO = "Asia/Tokyo"
CUSTOMER = "C-001"
UNITS = ["U-101", "U-102", "U-103", "U-104"]
NEVER_SEEN = "U-105"
SILENT = "U-104"
GAP_METER, GAP = "M-0102", (18, 19, 20)  # yesterday's readings missed at these boundaries
SOLAR = "M-0305"
PASSWORD = "correct horse battery staple"
SECRETS = {
    "admin": b"kenshin-console-admin",
    "operator": b"kenshin-console-oper",
    "viewer": None,
}
CLI = Actor("cli:setup", "cli", "cli")


def code(name: str, at: float | None = None) -> str:
    """The 6-digit code of ``name`` now (empty for a viewer, who signs in without one)."""
    secret = SECRETS.get(name)
    return code_at(secret, time.time() if at is None else at) if secret else ""


def _kenshin(site: Path, *args: str) -> None:
    result = CliRunner().invoke(cli, ["--config", str(site / "kenshin.toml"), *args])
    if result.exit_code != 0:
        raise RuntimeError(f"kenshin {' '.join(args)}: {result.output}")


def meters_of(unit: str) -> list[str]:
    """The unit's five meters: U-102 has M-0201 ... M-0205."""
    return [f"M-{int(unit[2:]) - 100:02d}{n:02d}" for n in range(1, 6)]


def _step(meter: str, index: int) -> int:
    """An office's half hour, in 0.1 kWh: a low night, a working day, a lunch dip."""
    n = int(meter[2:])
    hour = index / 2
    day = 9 <= hour < 18.5
    level = 4 + n % 3 + (14 + n % 7 if day else 0) - (5 if 12 <= hour < 13 else 0)
    return max(1, level + (index * 7 + n) % 3)


def _solar(index: int) -> int:
    hour = index / 2
    return max(0, int(9 - abs(hour - 12.5) * 2)) if 7 <= hour < 18 else 0


def _registers(meter: str, origin: int, until: int) -> tuple[int, int]:
    """The meter's forward and reverse registers at ``until``, counted from ``origin``
    (a local midnight) in half hours."""
    fwd, rev = 40_000 + int(meter[2:]) * 311, 0
    for k in range((until - origin) // 1800):
        fwd += _step(meter, k % 48)
        rev += _solar(k % 48)
    return fwd, rev


def _message(unit: str, seq: int, origin: int, times: list[int], skip: tuple[int, ...]) -> bytes:
    """One message of ``unit`` with each meter's readings at ``times`` (but ``GAP_METER``'s
    at ``skip``), registers counted from ``origin``."""
    tz = zone(TOKYO)
    blocks = []
    for meter in meters_of(unit):
        readings: list[dict[str, object]] = []
        for t in times:
            if meter == GAP_METER and t in skip:
                continue
            fwd, rev = _registers(meter, origin, t)
            reading: dict[str, object] = {
                "t": datetime.fromtimestamp(t, tz).isoformat(),
                "fwd": fwd,
            }
            if meter == SOLAR:
                reading["rev"] = rev
            readings.append(reading)
        blocks.append(
            {"meter": meter, "unit": "0.1kWh", "coefficient": 1, "digits": 6, "readings": readings}
        )
    sent = datetime.fromtimestamp(times[-1] + 60, UTC).isoformat()
    document = {"v": 1, "device": unit, "seq": seq, "sent": sent, "meters": blocks}
    return json.dumps(document).encode()


def _ingest(app: App, payload: bytes, received: int, device: str | None) -> None:
    """``payload`` through the real ingest as the device endpoint hands it over (the
    sender known by its certificate), received at ``received``."""
    app.ingest().ingest([Incoming(f"mqtt:{device or 'unknown'}", payload, received, device=device)])


def _readings(app: App, today: date, now: int) -> None:
    """Two whole days and today so far; U-104 stops after the first day."""
    origin = day_slots(today - timedelta(days=2), zone(TOKYO)).start
    for unit in UNITS:
        firmware = "2.3.1" if unit != "U-103" else "2.2.0"
        for back in (2, 1):
            if unit == SILENT and back == 1:
                continue
            slots = day_slots(today - timedelta(days=back), zone(TOKYO))
            times = list(range(slots.start, slots.end + 1, 1800))
            skip = tuple(slots.start + i * 1800 for i in GAP) if back == 1 else ()
            _ingest(app, _message(unit, 3 - back, origin, times, skip), slots.end + 60, unit)
        received = slots.end + 60
        if unit != SILENT:
            start = day_slots(today, zone(TOKYO)).start
            received = now - 300
            times = list(range(start, now - now % 1800 + 1, 1800))
            _ingest(app, _message(unit, 3, origin, times, ()), received, unit)
        status = {"firmware": firmware, "rsrp": -78 - 6 * UNITS.index(unit)}
        app.store.unit_clocks.save_status(unit, received, json.dumps(status).encode())
    sent = datetime.fromtimestamp(now - 7200, UTC).isoformat()
    block = {
        "meter": "M-9901",
        "unit": "0.1kWh",
        "coefficient": 1,
        "digits": 6,
        "readings": [{"t": sent, "fwd": 1200}],
    }
    stranger = {"v": 1, "device": "U-999", "seq": 1, "sent": sent, "meters": [block]}
    _ingest(app, json.dumps(stranger).encode(), now - 7200, "U-999")
    _ingest(app, b'{"v": 1, "device": "U-102", "meters": [', now - 5400, "U-102")


def _users(app: App) -> None:
    keeping = keeping_of(app.store)
    for name, role in (
        ("admin", Role.ADMIN),
        ("operator", Role.OPERATOR),
        ("viewer", Role.VIEWER),
        ("newop", Role.OPERATOR),
    ):
        add_operator(keeping, CLI, name, role, PASSWORD)
        secret = SECRETS.get(name)
        if secret:
            made = app.store.operators.get_operator(name)
            assert made is not None
            app.store.operators.save_operator(replace(made, totp_secret=secret, totp_enrolled=True))


def build(folder: Path, now: int | None = None) -> Path:
    """The site in ``folder`` (a new folder); its config file."""
    now = int(time.time()) if now is None else now
    today = datetime.fromtimestamp(now, zone(TOKYO)).date()
    _kenshin(folder, "init", str(folder))
    _kenshin(folder, "customers", "add", CUSTOMER, "--name", "Minato Office Park")
    units = [*UNITS, NEVER_SEEN, "--customer", CUSTOMER, "--out", str(folder / "units")]
    _kenshin(folder, "devices", "add", *units)
    app = open_app(folder / "kenshin.toml")
    try:
        _readings(app, today, now)
        _users(app)
        Alerting(app.store, [], app.settings.alerts).tick(
            Observations(now=now), app.store.unit_clocks.last_seen()
        )
    finally:
        app.close()
    for back in (2, 1):
        day = (today - timedelta(days=back)).isoformat()
        _kenshin(folder, "export", "--customer", CUSTOMER, "--date", day)
    app = open_app(folder / "kenshin.toml")
    try:
        name = f"{CUSTOMER}_{today - timedelta(days=2):%Y%m%d}.csv"
        size = len(app.outbox.read(CUSTOMER, name) or b"")
        receipt = Receipt(CUSTOMER, name, 1, size, "sftp", "198.51.100.20", now - 20 * 3600)
        app.store.deliveries.add_receipt(receipt)
    finally:
        app.close()
    return folder / "kenshin.toml"


def _refused_sign_in(base: str) -> None:
    """A wrong password through the API: a security event."""
    body = json.dumps({"name": "admin", "password": "not the password"}).encode()
    asked = urllib.request.Request(
        f"{base}/api/v1/session", body, {"Content-Type": "application/json"}, method="POST"
    )
    try:
        urllib.request.urlopen(asked, timeout=10)
    except urllib.error.HTTPError as exc:
        if exc.code != 401:
            raise


@contextmanager
def open_site(folder: Path, now: int | None = None) -> Iterator[tuple[App, str]]:
    """The site built in ``folder`` (at ``now``), open and served (security events
    kept in its store); the App and the base URL."""
    app = open_app(build(folder, now))
    try:
        with served(app) as base:
            _refused_sign_in(base)
            yield app, base
    finally:
        app.close()


@contextmanager
def real_site(folder: Path) -> Iterator[str]:
    """The site built in ``folder``, served; its base URL."""
    with open_site(folder) as (_, base):
        yield base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--dir", type=Path, help="a new folder for the site (default: temporary)")
    arguments = parser.parse_args()
    folder = arguments.dir or Path(tempfile.mkdtemp(prefix="kenshin-console-")) / "site"
    with real_site(folder) as base:
        print(f"{base}  (users admin, operator, viewer, newop; password {PASSWORD!r})")
        print(f"codes: admin {code('admin')}, operator {code('operator')}; Ctrl-C to stop")
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
