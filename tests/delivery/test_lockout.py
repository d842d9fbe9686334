"""Failed logins hold back the address that failed, never a customer logging in from
elsewhere or with its key; ``kenshin customers unlock``. Attacks from 127.0.0.2 (another
loopback address), the customer at 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from conftest import kenshin, make_site
from kenshin.entrypoints.cli import delivery

from .conftest import PASSWORDS, Served
from .test_logins import ftps_login, serve_with, sftp_login

pytestmark = pytest.mark.integration

OUTSIDER = "127.0.0.2"


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Served]:
    """A server of its own: the tests lock addresses out."""
    with serve_with(tmp_path) as served:
        yield served


def add_key(served: Served, customer: str, folder: Path) -> asyncssh.SSHKey:
    """A new SSH key, registered for ``customer``."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    (folder / "id.pub").write_bytes(key.export_public_key())
    added = kenshin(
        served.site, "customers", "credentials", customer, "--ssh-key", str(folder / "id.pub")
    )
    assert added.exit_code == 0, added.output
    return key


def test_a_user_name_that_is_no_customer_id_locks_no_one_out(
    guarded: Served, tmp_path: Path
) -> None:
    key = add_key(guarded, "C-001", tmp_path)
    for _ in range(3):
        assert not ftps_login(guarded, "@127.0.0.1", "guess", source=OUTSIDER)
    for _ in range(2):
        assert not sftp_login(guarded, "@127.0.0.1", "guess", source=OUTSIDER)
    assert ftps_login(guarded, "C-001", PASSWORDS["C-001"])
    assert sftp_login(guarded, "C-001", PASSWORDS["C-001"])
    assert sftp_login(guarded, "C-001", key=key)
    _out, err = guarded.stop()
    assert "login_failed: '@127.0.0.1' from 127.0.0.2: ftps: not a customer id" in err
    assert "login_failed: '@127.0.0.1' from 127.0.0.2: sftp: not a customer id" in err
    assert "from 127.0.0.1" not in err  # nothing refused to the customer


def test_an_outsider_locks_out_its_own_address_not_the_customer(
    guarded: Served, tmp_path: Path
) -> None:
    key = add_key(guarded, "C-001", tmp_path)
    for _ in range(3):
        assert not ftps_login(guarded, "C-001", "guess", source=OUTSIDER)
    for _ in range(2):
        assert not sftp_login(guarded, "C-001", "guess", source=OUTSIDER)
    # The outsider's address is locked: even right passwords are refused from there...
    assert not ftps_login(guarded, "C-001", PASSWORDS["C-001"], source=OUTSIDER)
    assert not sftp_login(guarded, "C-002", PASSWORDS["C-002"], source=OUTSIDER)
    # ...but not a registered key, and the customer logs in from its own address.
    assert sftp_login(guarded, "C-001", key=key, source=OUTSIDER)
    assert ftps_login(guarded, "C-001", PASSWORDS["C-001"])
    assert sftp_login(guarded, "C-001", PASSWORDS["C-001"])
    _out, err = guarded.stop()
    assert err.count("security event login_failed: C-001 from 127.0.0.2") == 5
    assert "login_locked: C-001 from 127.0.0.2: ftps: address locked" in err
    assert "login_locked: C-002 from 127.0.0.2: sftp: address locked" in err
    assert "from 127.0.0.1" not in err


def test_a_locked_address_still_lets_in_a_customer_that_allow_lists_it(guarded: Served) -> None:
    allowed = kenshin(guarded.site, "customers", "credentials", "C-002", "--allow", "127.0.0.1")
    assert allowed.exit_code == 0, allowed.output
    for _ in range(5):
        assert not ftps_login(guarded, "C-001", "guess")
    assert not ftps_login(guarded, "C-001", PASSWORDS["C-001"])  # 127.0.0.1 is locked
    assert ftps_login(guarded, "C-002", PASSWORDS["C-002"])  # but C-002 allows only it
    assert sftp_login(guarded, "C-002", PASSWORDS["C-002"])


def test_failures_of_an_account_from_an_address_are_answered_ever_later(
    tmp_path: Path,
) -> None:
    env = {
        "KENSHIN_DELIVERIES__FAILED_LOGIN_DELAY_MS": "150",
        "KENSHIN_DELIVERIES__MAX_FAILED_LOGINS": "10",
    }
    with serve_with(tmp_path, **env) as served:
        took = []
        for _ in range(4):
            start = time.monotonic()
            assert not ftps_login(served, "C-001", "guess", source=OUTSIDER)
            took.append(time.monotonic() - start)
        assert took[2] >= 0.6  # 0.15, 0.3, 0.6, 1.2 s
        assert took[3] >= 1.2
        # The fifth failure waits 2.4 s for its answer; meanwhile others are served.
        outsider = threading.Thread(
            target=sftp_login, args=(served, "C-001", "guess", OUTSIDER), daemon=True
        )
        start = time.monotonic()
        outsider.start()
        assert sftp_login(served, "C-001", PASSWORDS["C-001"])
        assert ftps_login(served, "C-002", PASSWORDS["C-002"])
        assert outsider.is_alive()
        outsider.join(10)
        assert time.monotonic() - start >= 2.4


def test_unlock_clears_the_failures_of_a_customer(guarded: Served) -> None:
    for _ in range(5):
        assert not ftps_login(guarded, "C-001", "guess")
    assert not ftps_login(guarded, "C-001", PASSWORDS["C-001"])
    assert not sftp_login(guarded, "C-002", PASSWORDS["C-002"])
    unlocked = kenshin(guarded.site, "customers", "unlock", "C-001")
    assert unlocked.exit_code == 0, unlocked.output
    assert "C-001: 5 failed logins from 127.0.0.1 cleared" in unlocked.output
    assert "127.0.0.1 unlocked" in unlocked.output
    assert ftps_login(guarded, "C-001", PASSWORDS["C-001"])
    assert sftp_login(guarded, "C-002", PASSWORDS["C-002"])
    again = kenshin(guarded.site, "customers", "unlock", "C-001", "--address", "127.0.0.1")
    assert again.exit_code == 0, again.output
    assert "C-001: nothing to clear from 127.0.0.1" in again.output


def test_unlock_refuses_what_it_cannot_name(guarded: Served) -> None:
    unknown = kenshin(guarded.site, "customers", "unlock", "C-404")
    assert unknown.exit_code != 0
    assert "customer 'C-404' does not exist" in unknown.output
    bad = kenshin(guarded.site, "customers", "unlock", "C-001", "--address", "10.0.0/8")
    assert bad.exit_code == 2
    assert "--address" in bad.output


def test_unlock_without_a_running_server_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "UNLOCK_WAIT_S", 1.0)
    site = make_site(tmp_path, "site")
    result = kenshin(site, "customers", "unlock", "C-001", "--address", "2001:DB8::7")
    assert result.exit_code == 0, result.output
    assert result.output == (
        "C-001: unlock requested; no running file server applied it within 1 s: the next one"
        " to start applies it (failed logins are kept in the store)\n"
    )
