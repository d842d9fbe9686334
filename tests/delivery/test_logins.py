"""Logins to both file servers: lockout, allow-lists, active mode, plain FTP by opt-in."""

from __future__ import annotations

import asyncio
import ftplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncssh
import pytest

from conftest import kenshin

from .conftest import DAY_FILE, PASSWORDS, Served, make_delivery_site, publish_files, start_serve
from .test_ftps import fetch, session

pytestmark = pytest.mark.integration


@contextmanager
def serve_with(tmp_path: Path, **env: str) -> Iterator[Served]:
    site = make_delivery_site(tmp_path)
    files = publish_files(site)
    running = start_serve(site, **env)
    running.files = files
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[Served]:
    """A server of its own (locking 127.0.0.1 out must not spoil the other tests), with
    active mode on and a public address to announce in passive replies."""
    env = {"KENSHIN_FTPS__ACTIVE_MODE": "true", "KENSHIN_FTPS__ANNOUNCE_ADDRESS": "203.0.113.5"}
    with serve_with(tmp_path, **env) as served:
        yield served


def ftps_login(served: Served, customer: str, password: str, source: str = "127.0.0.1") -> bool:
    """Whether an FTPS login from the ``source`` address succeeds."""
    ftp = ftplib.FTP_TLS(context=ssl.create_default_context(cafile=served.ca))
    ftp.connect("127.0.0.1", served.ftps_port, timeout=10, source_address=(source, 0))
    try:
        ftp.login(customer, password)
    except ftplib.error_perm:
        return False
    finally:
        ftp.close()
    return True


def sftp_login(
    served: Served,
    customer: str,
    password: str | None = None,
    source: str = "127.0.0.1",
    key: asyncssh.SSHKey | None = None,
) -> bool:
    """Whether an SFTP login from the ``source`` address, with the password or the key,
    succeeds."""

    async def main() -> bool:
        try:
            async with asyncssh.connect(
                "127.0.0.1",
                served.sftp_port,
                username=customer,
                password=password,
                known_hosts=asyncssh.import_known_hosts(served.host_key_line),
                client_keys=None if key is None else [key],
                local_addr=(source, 0),
            ):
                return True
        except asyncssh.PermissionDenied:
            return False

    return asyncio.run(main())


def test_lockout_engages_after_five_failures_for_both_protocols(guarded: Served) -> None:
    assert ftps_login(guarded, "C-001", PASSWORDS["C-001"])
    for _ in range(2):
        assert not ftps_login(guarded, "C-001", "guessed password")
    for _ in range(2):
        assert not sftp_login(guarded, "C-001", "guessed password")
    assert ftps_login(guarded, "C-001", PASSWORDS["C-001"])  # four failures: not yet
    assert not sftp_login(guarded, "C-001", "guessed password")  # the fifth
    # Locked: the right password is refused too, over both protocols, from this address.
    assert not ftps_login(guarded, "C-001", PASSWORDS["C-001"])
    assert not sftp_login(guarded, "C-001", PASSWORDS["C-001"])
    assert not ftps_login(guarded, "C-002", PASSWORDS["C-002"])
    _out, err = guarded.stop()
    assert err.count("security event login_failed") >= 5
    assert "security event login_locked: C-001 from 127.0.0.1: ftps: address locked" in err
    assert "sftp: address locked" in err


def test_active_mode_when_turned_on_goes_only_to_the_client_itself(guarded: Served) -> None:
    with session(guarded) as ftp:
        with pytest.raises(ftplib.error_perm, match="501 Rejected data connection to foreign"):
            ftp.sendcmd("PORT 10,9,8,7,200,10")
        with pytest.raises(ftplib.error_perm, match="501 Rejected data connection to foreign"):
            ftp.sendcmd("EPRT |1|10.9.8.7|51000|")
        with pytest.raises(ftplib.error_perm, match="501 PORT against the privileged port"):
            ftp.sendcmd("PORT 127,0,0,1,0,22")
        ftp.set_pasv(False)
        assert fetch(ftp, DAY_FILE) == guarded.files[DAY_FILE]  # to itself: allowed


def test_passive_replies_announce_the_configured_address(guarded: Served) -> None:
    with session(guarded) as ftp:
        host, port = ftplib.parse227(ftp.sendcmd("PASV"))
    assert host == "203.0.113.5"  # behind NAT: the address customers reach
    assert 41000 <= port <= 41999


def test_an_address_outside_the_allow_list_is_refused(guarded: Served) -> None:
    allowed = kenshin(guarded.site, "customers", "credentials", "C-002", "--allow", "10.0.0.0/8")
    assert allowed.exit_code == 0, allowed.output
    assert "logins from 10.0.0.0/8" in allowed.output
    assert not ftps_login(guarded, "C-002", PASSWORDS["C-002"])
    assert not sftp_login(guarded, "C-002", PASSWORDS["C-002"])
    assert ftps_login(guarded, "C-001", PASSWORDS["C-001"])  # others are not affected
    anywhere = kenshin(guarded.site, "customers", "credentials", "C-002", "--allow-any")
    assert "logins from any address" in anywhere.output
    assert ftps_login(guarded, "C-002", PASSWORDS["C-002"])


def test_plain_ftp_only_by_opt_in_and_with_a_warning(tmp_path: Path) -> None:
    with serve_with(tmp_path, KENSHIN_FTPS__ALLOW_PLAIN="true") as served:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", served.ftps_port, timeout=10)
        ftp.login("C-001", PASSWORDS["C-001"])
        assert fetch(ftp, DAY_FILE) == served.files[DAY_FILE]
        ftp.close()
        assert served.receipts("C-001", at_least=1)[-1].protocol == "ftp"
        _out, err = served.stop()
        assert "plain FTP is allowed (ftps.allow_plain)" in err
