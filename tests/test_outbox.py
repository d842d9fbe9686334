"""The local outbox's own: files fsynced before they are renamed into place, temporaries
never listed nor left, the modes of customers' files. What every outbox does (exact bytes,
replacement, listings, names refused) is in tests/contract/test_outbox_contract.py."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from kenshin.adapters.outbox import STALE_TEMP_SECONDS, LocalOutbox
from kenshin.errors import ExportError


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


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
    other = folder / ".b.csv.dead02.tmp"  # another file's, left by a killed writer
    for path in (stale, fresh, other):
        path.write_bytes(b"half")
    old = time.time() - STALE_TEMP_SECONDS - 60
    for path in (stale, other):
        os.utime(path, (old, old))
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


def test_others_cannot_read_a_customers_files(tmp_path: Path) -> None:
    old_umask = os.umask(0)  # the modes are the outbox's own, not a lenient umask's
    try:
        LocalOutbox(tmp_path).publish("C1", "C1_20261126.csv", b"data")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "C1").stat().st_mode) == 0o750
    assert stat.S_IMODE((tmp_path / "C1" / "C1_20261126.csv").stat().st_mode) == 0o640
