"""Plausible data for the console's development harness: one customer's fleet of 20
meters and units (one unit silent since this morning, one never seen), a day whose
silent unit left a gap of estimated slots, alerts, dead letters, security events,
operators, tokens and an audit log. Deterministic: the same numbers every run."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

METERS = 20
SILENT = 7  # U-007 / M-0000007: silent from 10:00, its slots estimated after
NEVER = 20  # U-020: registered, never connected
GAP = range(20, 28)  # 10:00 to 14:00, estimated
QUESTIONABLE = (4, 33)  # M-0000004 at 16:30: a spike held for review
NO_VALUE = (12, 47)  # M-0000012's last slot: nothing to estimate from yet

PAYLOAD = '{"v":1,"meter":"M-0000003","register_wh":48213377,"at":"2031-01-01T00:00:00Z"}'
CUSTOMERS = [
    {
        "id": "C-001",
        "name": "北浜オフィスビル",
        "time_zone": "Asia/Tokyo",
        "layout": "wide",
        "meters": 20,
    },
    {
        "id": "C-002",
        "name": "Second Building",
        "time_zone": "Asia/Tokyo",
        "layout": "nem12",
        "meters": 0,
    },
]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def meter_id(n: int) -> str:
    return f"M-{n:07d}"


def flags(n: int) -> str:
    """The 48 flags of meter n's day."""
    out = ["A"] * 48
    if n == SILENT:
        for i in GAP:
            out[i] = "E"
    if n == QUESTIONABLE[0]:
        out[QUESTIONABLE[1]] = "Q"
    if n == NO_VALUE[0]:
        out[NO_VALUE[1]] = "N"
    if n == NEVER:
        out = ["N"] * 48
    return "".join(out)


def kwh(n: int, slot: int, day: date) -> str | None:
    """An office's half hour: a base load, a working-day hump, a little noise."""
    if flags(n)[slot] == "N":
        return None
    hour = slot / 2
    working = day.weekday() < 5
    hump = max(0.0, math.sin((hour - 7) / 12 * math.pi)) if 7 <= hour <= 19 else 0.0
    noise = ((n * 7919 + slot * 104729 + day.toordinal()) % 97) / 970
    value = 0.18 + n * 0.01 + (1.6 if working else 0.35) * hump + noise
    if (n, slot) == QUESTIONABLE:
        value *= 6
    return f"{value:.3f}"


def day_slots(n: int, day: date) -> list[dict[str, object]]:
    start = datetime(day.year, day.month, day.day)
    return [
        {
            "start": (start + timedelta(minutes=30 * i)).strftime("%Y-%m-%dT%H:%M"),
            "kwh": kwh(n, i, day),
            "flag": flags(n)[i],
        }
        for i in range(48)
    ]


def devices() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for n in range(1, METERS + 1):
        seen = now() - timedelta(seconds=20 + n * 3)
        status = "online"
        if n == SILENT:
            seen, status = now() - timedelta(hours=5, minutes=12), "silent"
        out.append(
            {
                "id": f"U-{n:03d}",
                "customer": "C-001",
                "status": "never_seen" if n == NEVER else status,
                "last_seen": None if n == NEVER else iso(seen),
                "firmware": None if n == NEVER else ("2.4.1" if n % 5 else "2.3.9"),
                "signal": None if n == NEVER else -48 - (n * 13) % 40,
                "revoked": False,
            }
        )
    return out


def files(customer: str) -> list[dict[str, object]]:
    if customer != "C-001":
        return []
    out: list[dict[str, object]] = []
    for back in range(1, 8):
        day = (now() - timedelta(days=back)).date()
        collected = None if back <= 2 else iso(now() - timedelta(days=back - 1, hours=-2))
        out.append(
            {
                "name": f"C-001_{day:%Y%m%d}.csv",
                "revision": 2 if back == 3 else 1,
                "size": 18_432 + back * 97,
                "collected_at": collected,
            }
        )
    return out


def alerts() -> dict[str, list[dict[str, object]]]:
    t = now()
    return {
        "open": [
            {
                "key": "unit_silent:U-007",
                "rule": "unit_silent",
                "subject": "U-007 silent for 5 h",
                "since": iso(t - timedelta(hours=5)),
                "acknowledged_at": None,
                "silenced_until": None,
            },
            {
                "key": "files_uncollected:C-001",
                "rule": "files_uncollected",
                "subject": "C-001: 2 files not collected",
                "since": iso(t - timedelta(hours=20)),
                "acknowledged_at": iso(t - timedelta(hours=2)),
                "acknowledged_by": "operator",
                "silenced_until": None,
            },
            {
                "key": "dead_letters",
                "rule": "dead_letters",
                "subject": "3 dead letters in the last hour",
                "since": iso(t - timedelta(minutes=40)),
                "acknowledged_at": None,
                "silenced_until": None,
            },
        ],
        "history": [
            {
                "key": "ingest_stalled",
                "rule": "ingest_stalled",
                "subject": "No readings for 10 min",
                "since": iso(t - timedelta(days=2, hours=3)),
                "resolved_at": iso(t - timedelta(days=2, hours=2, minutes=41)),
            },
            {
                "key": "certificate_ending:server",
                "rule": "certificate_ending",
                "subject": "Server certificate ends in 20 days",
                "since": iso(t - timedelta(days=6)),
                "resolved_at": iso(t - timedelta(days=5)),
            },
        ],
    }


def dead_letters() -> list[dict[str, object]]:
    t = now()
    reasons = [
        "reading dated in the future",
        "unknown device",
        "payload not valid JSON",
        "register went backwards",
    ]
    return [
        {
            "id": f"DL-{i}",
            "received_at": iso(t - timedelta(minutes=9 * i + 3)),
            "device": f"U-{(i * 3) % 19 + 1:03d}",
            "reason": reasons[i % 4],
            "payload": PAYLOAD,
        }
        for i in range(6)
    ]


def security_events() -> list[dict[str, object]]:
    t = now()
    return [
        {
            "id": "S-3",
            "at": iso(t - timedelta(minutes=12)),
            "kind": "login_refused",
            "who": "C-002",
            "address": "203.0.113.40",
            "detail": "wrong password (sftp)",
        },
        {
            "id": "S-2",
            "at": iso(t - timedelta(hours=1)),
            "kind": "lockout",
            "who": "C-002",
            "address": "203.0.113.40",
            "detail": "5 failures in 10 min",
        },
        {
            "id": "S-1",
            "at": iso(t - timedelta(hours=3)),
            "kind": "request_refused",
            "who": "viewer",
            "address": "192.0.2.10",
            "detail": "the viewer role may not change_fleet",
        },
    ]


def explain(meter: str, slot: str) -> dict[str, object]:
    n = int(meter.rsplit("-", 1)[1])
    index = int(slot[11:13]) * 2 + (1 if slot[14:16] == "30" else 0)
    flag = flags(n)[index]
    methods = {
        "A": "difference of two readings",
        "E": "linear interpolation between the readings around the gap",
        "Q": "held: more than 5x the meter's 30-day 99th percentile",
        "N": "no reading after this slot yet",
    }
    return {
        "meter": meter,
        "slot": slot,
        "flag": flag,
        "kwh": kwh(n, index, date.fromisoformat(slot[:10])),
        "method": methods[flag],
        "readings": [
            {
                "at": f"{slot[:10]}T{slot[11:16]}:04+09:00",
                "register_kwh": "48213.377",
                "device": f"U-{n:03d}",
            },
            {
                "at": f"{slot[:10]}T{slot[11:13]}:{'59' if slot[14:16] == '30' else '29'}:58+09:00",
                "register_kwh": "48213.789",
                "device": f"U-{n:03d}",
            },
        ],
        "rules": [
            "register_monotonic: passed",
            "spike_5x_p99: " + ("failed" if flag == "Q" else "passed"),
        ],
    }


def audit() -> list[dict[str, object]]:
    t = now()
    return [
        {
            "at": iso(t - timedelta(hours=2)),
            "who": "operator",
            "role": "operator",
            "action": "alerts.acknowledge",
            "kind": "alert",
            "key": "files_uncollected:C-001",
            "before": {"acknowledged": False},
            "after": {"acknowledged": True},
            "source": "192.0.2.11",
        },
        {
            "at": iso(t - timedelta(days=1)),
            "who": "cli:root",
            "role": "cli",
            "action": "devices.add",
            "kind": "device",
            "key": "U-020",
            "before": None,
            "after": {"customer": "C-001"},
            "source": "cli",
        },
        {
            "at": iso(t - timedelta(days=3)),
            "who": "admin",
            "role": "admin",
            "action": "users.add",
            "kind": "user",
            "key": "viewer",
            "before": None,
            "after": {"role": "viewer"},
            "source": "192.0.2.10",
        },
    ]
