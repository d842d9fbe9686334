"""Final files not collected by their deadline; the ``deliveries`` and ``credentials`` commands."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import kenshin, make_site
from delivery.conftest import start_serve
from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.memory_delivery import MemoryDeliveries
from kenshin.adapters.sqlite import SqliteStore
from kenshin.domain.accounts import Account, Receipt
from kenshin.domain.model import Customer, FileRevision
from kenshin.domain.slots import day_start, iso_utc
from kenshin.errors import StoreError
from kenshin.services.accounts import verify_password
from kenshin.services.receipts import (
    CollectionWatch,
    Uncollected,
    collection_status,
    missed_deadlines,
    record_download,
    uncollected_files,
)

TOKYO = ZoneInfo("Asia/Tokyo")
DAY = date(2026, 11, 26)
DUE = day_start(date(2026, 11, 27), TOKYO) + 12 * 3600  # 12:00 the next day, local


def revision(number: int, status: str = "final") -> FileRevision:
    name = "C-1_20261126.csv"
    return FileRevision("C-1", DAY.isoformat(), number, status, name, "00", "k", 1, 48, 48, 0)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_final_file_not_collected_by_its_deadline_is_flagged(backend: str) -> None:
    store = MemoryStore() if backend == "memory" else SqliteStore.in_memory()
    store.registry.add_customer(Customer("C-1", "One"))
    store.revisions.add_revision(revision(1))
    assert uncollected_files(store, DUE + 1, 12) == []  # no credentials: cannot collect
    store.deliveries.save_account(Account("C-1", ssh_keys=("ssh-ed25519 AAAA",)))
    store.revisions.add_revision(revision(1, "provisional"))
    assert uncollected_files(store, DUE + 1, 12) == []  # provisional: not due
    store.revisions.add_revision(revision(1))
    assert uncollected_files(store, DUE - 1, 12) == []  # not yet due
    flagged = [Uncollected("C-1", "2026-11-26", "C-1_20261126.csv", 1, DUE)]
    assert uncollected_files(store, DUE + 1, 12) == flagged
    store.deliveries.add_receipt(Receipt("C-1", "C-1_20261126.csv", 1, 9, "ftps", "::1", DUE - 60))
    assert uncollected_files(store, DUE + 1, 12) == []
    assert collection_status(store, "C-1", "C-1_20261126.csv", 1) == DUE - 60
    store.revisions.add_revision(revision(2))  # restated: revision 1 was collected, 2 was not
    assert [u.revision for u in uncollected_files(store, DUE + 1, 12)] == [2]
    store.deliveries.add_receipt(Receipt("C-1", "C-1_20261126.csv", 2, 9, "sftp", "::1", DUE + 5))
    assert uncollected_files(store, DUE + 10, 12) == []  # collected late: collected
    assert [u.collected_at for u in missed_deadlines(store, DUE + 10, 12)] == [DUE + 5]
    assert missed_deadlines(store, DUE + 10, 36) == []  # a later deadline
    assert uncollected_files(store, DUE + 4 * 86_400, 12) == []  # past the look-back
    store.close()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path, "site")


def test_a_generated_password_is_shown_once_and_kept_as_a_hash(site: Path) -> None:
    result = kenshin(site, "customers", "credentials", "C-001", "--password", input_text="\n")
    assert result.exit_code == 0, result.output
    password = result.output.split("(shown only now): ")[1].split()[0]
    store = SqliteStore(site / "kenshin.db")
    account = store.deliveries.get_account("C-001")
    store.close()
    assert account is not None
    assert verify_password(account.password_hash, password)
    assert password not in (site / "kenshin.db").read_bytes().decode("latin-1")
    again = kenshin(site, "customers", "credentials", "C-001", "--allow", "192.0.2.0/24")
    assert password not in again.output
    assert "password set, 0 SSH key(s), logins from 192.0.2.0/24" in again.output


@pytest.mark.parametrize(
    ("args", "typed", "message"),
    [
        (["--password"], "short\n", "at least 12 characters"),
        (["--password"], "long enough pass\nanother pass\n", "the two passwords differ"),
        (["--allow", "10.0.0.300"], "", "does not appear to be an IPv4 or IPv6 network"),
        (["--allow", "10.0.0.0/8", "--allow-any"], "", "exclude each other"),
    ],
)
def test_bad_credentials_are_refused_with_a_reason(
    site: Path, args: list[str], typed: str, message: str
) -> None:
    result = kenshin(site, "customers", "credentials", "C-001", *args, input_text=typed)
    assert result.exit_code != 0
    assert message in result.output
    store = SqliteStore(site / "kenshin.db")
    assert store.deliveries.get_account("C-001") is None
    store.close()


def test_ssh_keys_are_checked(site: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.pub"
    bad.write_text("ssh-ed25519 not-base64 me\n")
    result = kenshin(site, "customers", "credentials", "C-001", "--ssh-key", str(bad))
    assert result.exit_code != 0
    assert "not an OpenSSH public key" in result.output
    missing = kenshin(site, "customers", "credentials", "C-404", "--allow-any")
    assert missing.exit_code != 0
    assert "customer 'C-404' does not exist" in missing.output


def test_deliveries_lists_receipts_by_customer_and_day(site: Path) -> None:
    assert kenshin(site, "customers", "add", "C-002", "--name", "Two").exit_code == 0
    store = SqliteStore(site / "kenshin.db")
    at = day_start(date(2026, 11, 26), ZoneInfo("UTC"))
    store.deliveries.add_receipt(Receipt("C-001", "a.csv", 3, 1234, "ftps", "192.0.2.1", at))
    store.deliveries.add_receipt(
        Receipt("C-002", "b.csv", None, 5, "sftp", "192.0.2.2", at + 86_400)
    )
    store.close()
    everything = kenshin(site, "deliveries", "--utc").output.splitlines()
    assert everything[0].split() == [
        "time",
        "customer",
        "file",
        "revision",
        "bytes",
        "protocol",
        "address",
    ]
    assert everything[1].split() == [
        "2026-11-26T00:00+00:00",
        "C-001",
        "a.csv",
        "3",
        "1234",
        "ftps",
        "192.0.2.1",
    ]
    assert everything[2].split() == [
        "2026-11-27T00:00+00:00",
        "C-002",
        "b.csv",
        "-",
        "5",
        "sftp",
        "192.0.2.2",
    ]
    assert len(kenshin(site, "deliveries", "--customer", "C-001").output.splitlines()) == 2
    assert len(kenshin(site, "deliveries", "--since", "2026-11-27").output.splitlines()) == 2
    bad = kenshin(site, "deliveries", "--since", "yesterday")
    assert bad.exit_code != 0
    assert "expected a date as YYYY-MM-DD" in bad.output
    assert kenshin(site, "deliveries", "--uncollected").output.split() == [
        "customer",
        "day",
        "file",
        "revision",
        "due",
        "status",
        "collected",
    ]


class FailingDeliveries(MemoryDeliveries):
    def add_receipt(self, receipt: Receipt) -> None:
        raise StoreError("SQLite store: recording a download failed: disk I/O error")


def test_a_receipt_the_store_cannot_take_is_logged_in_full(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receipt = Receipt("C-1", "C-1_20261126.csv", 4, 1234, "sftp", "192.0.2.1", DUE)
    record_download(FailingDeliveries(lambda _: True), receipt)  # the session goes on
    (line,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "disk I/O error" in line
    assert "C-1 downloaded C-1_20261126.csv revision 4, 1234 bytes, sftp from 192.0.2.1" in line
    working = MemoryDeliveries(lambda _: True)
    record_download(working, receipt)
    assert working.list_receipts() == [receipt]


def test_the_schedule_warns_once_per_file_not_collected(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "One"))
    store.deliveries.save_account(Account("C-1", ssh_keys=("ssh-ed25519 AAAA",)))
    store.revisions.add_revision(revision(1))
    watch = CollectionWatch(12)
    assert watch.check(store, DUE - 1) == []
    assert [u.revision for u in watch.check(store, DUE + 1)] == [1]
    assert watch.check(store, DUE + 1800) == []  # flagged already: no second warning
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "customer C-1 has not collected C-1_20261126.csv (revision 1, final)"
        " due 2026-11-27T03:00:00Z"
    ]
    store.revisions.add_revision(revision(2))  # restated after the deadline: flagged anew
    assert [u.revision for u in watch.check(store, DUE + 3600)] == [2]


def test_a_file_downloaded_after_its_deadline_counts_as_collected_late(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "One"))
    store.deliveries.save_account(Account("C-1", ssh_keys=("ssh-ed25519 AAAA",)))
    store.revisions.add_revision(revision(1))
    late = DUE + 5400  # 13:30, an hour and a half after its deadline
    store.deliveries.add_receipt(Receipt("C-1", "C-1_20261126.csv", 1, 9, "sftp", "::1", late))
    flagged = Uncollected("C-1", "2026-11-26", "C-1_20261126.csv", 1, DUE)
    assert uncollected_files(store, DUE + 7200, 12) == []
    assert missed_deadlines(store, DUE + 7200, 12) == [replace(flagged, collected_at=late)]
    assert missed_deadlines(store, DUE + 60, 12) == [flagged]  # as of before it was taken
    # A server started after the late download (a new watch) does not warn of it.
    assert CollectionWatch(12).check(store, DUE + 7200) == []
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "customer C-1 collected C-1_20261126.csv (revision 1) late: at"
            " 2026-11-27T04:30:00Z, due 2026-11-27T03:00:00Z",
        )
    ]


def test_deliveries_uncollected_shows_when_a_late_file_was_collected(site: Path) -> None:
    tz = ZoneInfo("Asia/Tokyo")
    day = datetime.now(tz).date() - timedelta(days=2)
    name = f"C-001_{day:%Y%m%d}.csv"
    due = day_start(day + timedelta(days=1), tz) + 12 * 3600
    store = SqliteStore(site / "kenshin.db")
    store.deliveries.save_account(Account("C-001", ssh_keys=("ssh-ed25519 AAAA",)))
    store.revisions.add_revision(
        FileRevision("C-001", day.isoformat(), 1, "final", name, "0", "k", 1, 48, 48, 0)
    )
    store.deliveries.add_receipt(Receipt("C-001", name, 1, 9, "ftps", "::1", due + 600))
    store.close()
    lines = kenshin(site, "deliveries", "--uncollected", "--utc").output.splitlines()
    assert lines[0].split() == ["customer", "day", "file", "revision", "due", "status", "collected"]
    assert lines[1].split() == [
        *("C-001", day.isoformat(), name, "1", minutes_utc(due)),
        *("collected", "late", minutes_utc(due + 600)),
    ]
    assert len(lines) == 2


def minutes_utc(epoch: int) -> str:
    """A time as the list commands show it with --utc."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="minutes")


@pytest.mark.integration
def test_the_server_starts_saying_collected_late_not_uncollected(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    tz = ZoneInfo("Asia/Tokyo")
    day = datetime.now(tz).date() - timedelta(days=2)
    name = f"C-001_{day:%Y%m%d}.csv"
    due = day_start(day + timedelta(days=1), tz) + 12 * 3600
    store = SqliteStore(site / "kenshin.db")
    store.deliveries.save_account(Account("C-001", ssh_keys=("ssh-ed25519 AAAA",)))
    final = FileRevision("C-001", day.isoformat(), 1, "final", name, "0", "k", 1, 48, 48, 0)
    store.revisions.add_revision(final)
    store.deliveries.add_receipt(Receipt("C-001", name, 1, 9, "sftp", "::1", due + 600))
    store.close()
    _, log = start_serve(site).stop()
    assert f"customer C-001 collected {name} (revision 1) late: at {iso_utc(due + 600)}" in log
    assert f"has not collected {name}" not in log


def stored_hash(site: Path) -> str | None:
    store = SqliteStore(site / "kenshin.db")
    account = store.deliveries.get_account("C-001")
    store.close()
    return None if account is None else account.password_hash


def test_a_script_gives_the_password_by_file_or_standard_input(site: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("correct horse battery\n")
    by_file = kenshin(site, "customers", "credentials", "C-001", "--password-file", str(secret))
    assert by_file.exit_code == 0, by_file.output
    assert by_file.output == "C-001: password set, 0 SSH key(s), logins from any address\n"
    assert verify_password(stored_hash(site), "correct horse battery")
    args = ("customers", "credentials", "C-001", "--password-stdin")
    by_stdin = kenshin(site, *args, input_text="staple of the stdin\n")
    assert by_stdin.exit_code == 0, by_stdin.output
    assert "correct horse" not in by_stdin.output
    assert verify_password(stored_hash(site), "staple of the stdin")
    short = kenshin(site, *args, input_text="short\n")
    assert short.exit_code == 2
    assert "a password has at least 12 characters" in short.output
    both = kenshin(site, *args, "--password-file", str(secret))
    assert both.exit_code == 2
    assert "give one of --password, --password-file and --password-stdin" in both.output
    assert verify_password(stored_hash(site), "staple of the stdin")  # unchanged


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_revision_restated_after_the_deadline_is_due_hours_after_it_was_made(
    backend: str,
) -> None:
    store = MemoryStore() if backend == "memory" else SqliteStore.in_memory()
    store.registry.add_customer(Customer("C-1", "One"))
    store.deliveries.save_account(Account("C-1", ssh_keys=("ssh-ed25519 AAAA",)))
    store.revisions.add_revision(revision(1))
    store.deliveries.add_receipt(Receipt("C-1", "C-1_20261126.csv", 1, 9, "ftps", "::1", DUE - 60))
    made = DUE + 7200  # restated by late readings two hours after the day's deadline
    store.revisions.add_revision(replace(revision(2), created_at=made))
    due = made + 12 * 3600
    assert missed_deadlines(store, made + 1, 12) == []  # not due at once
    assert missed_deadlines(store, due - 1, 12) == []
    flagged = Uncollected("C-1", "2026-11-26", "C-1_20261126.csv", 2, due)
    assert uncollected_files(store, due + 1, 12) == [flagged]
    store.deliveries.add_receipt(Receipt("C-1", "C-1_20261126.csv", 2, 9, "sftp", "::1", made + 60))
    assert missed_deadlines(store, due + 1, 12) == []  # fetched in time: not late
    store.close()


def test_a_final_file_made_before_its_deadline_is_due_at_the_deadline() -> None:
    store = MemoryStore()
    store.registry.add_customer(Customer("C-1", "One"))
    store.deliveries.save_account(Account("C-1", ssh_keys=("ssh-ed25519 AAAA",)))
    made = DUE - 6 * 3600  # final after the 6-hour grace, six hours before the deadline
    store.revisions.add_revision(replace(revision(1), created_at=made))
    flagged = Uncollected("C-1", "2026-11-26", "C-1_20261126.csv", 1, DUE)
    assert uncollected_files(store, DUE + 1, 12) == [flagged]  # not 12 hours after it was made
