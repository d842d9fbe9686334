"""The local outbox: exact bytes, atomic replacement, no temporaries left or listed."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from kenshin.adapters.outbox import STALE_TEMP_SECONDS, LocalOutbox
from kenshin.errors import ExportError
from kenshin.ports import Outbox


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_published_bytes_are_exact_and_no_temporary_is_left(tmp_path: Path) -> None:
    outbox: Outbox = LocalOutbox(tmp_path)
    content = bytes(range(256)) * 1000 + b"\r\n"
    outbox.publish("C1", "C1_20261126.csv", content)
    outbox.publish("C1", "C1_20261126.csv.manifest.json", b"{}\n")
    assert (tmp_path / "C1" / "C1_20261126.csv").read_bytes() == content
    assert outbox.read("C1", "C1_20261126.csv") == content
    assert names_in(tmp_path / "C1") == [
        "C1_20261126.csv",
        "C1_20261126.csv.manifest.json",
    ]


def test_publishing_again_replaces_the_file(tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path)
    outbox.publish("C1", "a.csv", b"first, and longer\r\n")
    outbox.publish("C1", "a.csv", b"second\r\n")
    assert outbox.read("C1", "a.csv") == b"second\r\n"
    assert names_in(tmp_path / "C1") == ["a.csv"]


def test_the_file_is_fsynced_before_it_is_renamed_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append("rename")
        real_replace(src, dst)

    (tmp_path / "C1").mkdir()
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    LocalOutbox(tmp_path).publish("C1", "a.csv", b"x")
    assert events == ["fsync file", "rename", "fsync dir"]


def test_temporaries_are_never_listed_and_stale_ones_are_cleared(tmp_path: Path) -> None:
    folder = tmp_path / "C1"
    folder.mkdir()
    stale, fresh = folder / ".a.csv.dead01.tmp", folder / ".a.csv.live01.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - STALE_TEMP_SECONDS - 60
    os.utime(stale, (old, old))
    outbox = LocalOutbox(tmp_path)
    assert outbox.list_files("C1") == []
    outbox.publish("C1", "a.csv", b"whole")
    assert outbox.list_files("C1") == ["a.csv"]
    assert names_in(folder) == [".a.csv.live01.tmp", "a.csv"]


def test_a_failed_publish_leaves_no_temporary(tmp_path: Path) -> None:
    (tmp_path / "C1" / "a.csv").mkdir(parents=True)  # a folder where the file should go
    outbox = LocalOutbox(tmp_path)
    with pytest.raises(ExportError, match=r"C1/a\.csv"):
        outbox.publish("C1", "a.csv", b"x")
    assert names_in(tmp_path / "C1") == ["a.csv"]


def test_missing_things_are_not_errors(tmp_path: Path) -> None:
    outbox = LocalOutbox(tmp_path)
    assert outbox.read("C1", "a.csv") is None
    assert outbox.list_files("C1") == []
    outbox.remove("C1", "a.csv")
    outbox.publish("C1", "a.csv", b"x")
    outbox.remove("C1", "a.csv")
    assert outbox.list_files("C1") == []


@pytest.mark.parametrize(
    ("customer", "name"),
    [("C1", "../a.csv"), ("C1", ".a.csv"), ("C1", "a/b.csv"), ("C1", ""), ("..", "a.csv")],
)
def test_names_cannot_leave_the_customers_folder(tmp_path: Path, customer: str, name: str) -> None:
    outbox = LocalOutbox(tmp_path / "out")
    with pytest.raises(ExportError, match="cannot be a file name"):
        outbox.publish(customer, name, b"x")
    assert not (tmp_path / "out").exists()


def test_others_cannot_read_a_customers_files(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the modes are the outbox's own, not a lenient umask's
    try:
        LocalOutbox(tmp_path).publish("C1", "C1_20261126.csv", b"data")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "C1").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "C1" / "C1_20261126.csv").stat().st_mode) == 0o640
