"""The audit log through the API: paged back 1000 at a time with ``before``; its CSV
export is the whole log, its cells never read as formulas by a spreadsheet."""

from __future__ import annotations

import csv
import io

from kenshin.domain.operators import Role
from kenshin.services.audit import record, whole_log

from .conftest import CLI, Console


def _fill(console: Console, count: int, key: str = "U-{0}") -> None:
    for i in range(count):
        record(console.store.audit, CLI, action="devices.revoke", kind="device", key=key.format(i))


def test_the_audit_log_pages_back_with_before(console: Console) -> None:
    console.add("alice", Role.OPERATOR)  # seq 1
    _fill(console, 1500)  # seq 2 to 1501
    console.sign_in("alice")
    newest = console.client.get("/api/v1/audit").json()
    assert [e["seq"] for e in newest] == list(range(502, 1502))
    older = console.client.get("/api/v1/audit", params={"before": newest[0]["seq"]}).json()
    assert [e["seq"] for e in older] == list(range(1, 502))
    assert console.client.get("/api/v1/audit", params={"before": 0}).status_code == 422


def test_the_csv_export_is_the_whole_log(console: Console) -> None:
    console.add("alice", Role.OPERATOR)
    _fill(console, 2500)
    console.sign_in("alice")
    rows = list(csv.reader(io.StringIO(console.client.get("/api/v1/audit.csv").text)))
    assert rows[0][0] == "seq"
    assert [int(r[0]) for r in rows[1:]] == list(range(1, 2502))


def test_the_whole_log_is_read_a_page_at_a_time_oldest_first(console: Console) -> None:
    _fill(console, 7)
    assert [e.seq for e in whole_log(console.store.audit, page=3)] == list(range(1, 8))
    assert [e.seq for e in whole_log(console.store.audit, page=7)] == list(range(1, 8))
    assert list(whole_log(console.store.audit, since=2**40)) == []


def test_a_cell_a_spreadsheet_would_run_is_quoted(console: Console) -> None:
    console.add("alice", Role.OPERATOR)
    keys = ['=HYPERLINK("http://evil.example","x")', "+1", "-1", "@SUM(A1)", "\tx", "\rx", "U-1"]
    for key in keys:
        record(console.store.audit, CLI, action="devices.revoke", kind="device", key=key)
    console.sign_in("alice")
    rows = list(csv.reader(io.StringIO(console.client.get("/api/v1/audit.csv").text, newline="")))
    assert [r[6] for r in rows[2:]] == [*("'" + k for k in keys[:-1]), "U-1"]
