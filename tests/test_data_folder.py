"""The data folder's own files: the database is never silently made anew, and what
holds secrets is readable by its owner alone."""

from __future__ import annotations

import stat
from pathlib import Path

from conftest import kenshin, make_site


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def test_an_empty_database_file_is_refused_not_taken_as_a_new_database(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    (site / "kenshin.db").write_bytes(b"")
    result = kenshin(site, "customers", "list")
    assert result.exit_code == 1
    assert "kenshin.db is empty (0 bytes)" in result.output
    assert "kenshin init --new-database" in result.output
    assert (site / "kenshin.db").stat().st_size == 0  # left as it was, for the operator


def test_a_missing_database_is_refused_too(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    (site / "kenshin.db").unlink()
    result = kenshin(site, "devices", "list")
    assert result.exit_code == 1
    assert "kenshin.db does not exist" in result.output
    assert not (site / "kenshin.db").exists()


def test_init_new_database_replaces_only_a_missing_or_empty_one(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    refused = kenshin(site, "init", "--new-database", str(site))
    assert refused.exit_code == 1
    assert "holds a database already" in refused.output
    assert "C-001" in kenshin(site, "customers", "list").output

    (site / "kenshin.db").write_bytes(b"")
    assert kenshin(site, "init", "--new-database", str(site)).exit_code == 0
    listed = kenshin(site, "customers", "list")
    assert listed.exit_code == 0
    assert "C-001" not in listed.output


def test_init_without_the_flag_still_refuses_an_existing_config(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    result = kenshin(site, "init", str(site))
    assert result.exit_code == 1
    assert "exists already" in result.output


def test_database_config_and_keys_are_readable_by_their_owner_alone(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")  # made, then written to: the WAL files exist
    kenshin(site, "devices", "add", "U-1", "--customer", "C-001", "--out", str(site / "certs"))
    assert mode(site / "kenshin.db") == 0o600
    assert mode(site / "kenshin.toml") == 0o600
    for name in ("kenshin.db-wal", "kenshin.db-shm"):
        if (site / name).exists():
            assert mode(site / name) == 0o600, name
    for key in (site / "pki" / "ca.key", site / "pki" / "server.key", site / "certs" / "U-1.key"):
        assert mode(key) == 0o600, key


def test_a_database_readable_by_others_is_made_the_owners_alone(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")  # as a site made before databases were created 0600
    for name in ("kenshin.db", "kenshin.db-wal", "kenshin.db-shm"):
        if (site / name).exists():
            (site / name).chmod(0o644)
    assert kenshin(site, "customers", "list").exit_code == 0
    for name in ("kenshin.db", "kenshin.db-wal", "kenshin.db-shm"):
        if (site / name).exists():
            assert mode(site / name) == 0o600, name


def test_a_backup_of_the_database_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    assert kenshin(site, "backup", str(tmp_path / "copy")).exit_code == 0
    assert mode(tmp_path / "copy" / "kenshin.db") == 0o600
