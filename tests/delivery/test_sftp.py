"""SFTP with real clients (asyncssh's, OpenSSH's sftp) against ``kenshin serve``."""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import os
import shutil
import socket
import subprocess
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import asyncssh
import pytest

from conftest import kenshin
from kenshin.adapters.outbox import LocalOutbox

from .conftest import DAY_FILE, OTHER_FILE, PASSWORDS, SECRET, Served
from .test_ftps import ESCAPES, visible
from .test_ftps import session as ftps_session

pytestmark = pytest.mark.integration

T = TypeVar("T")


def with_sftp(
    served: Served, job: Callable[[asyncssh.SFTPClient], Awaitable[T]], customer: str = "C-001"
) -> T:
    """Run ``job`` on an SFTP session of the customer, the server's host key checked."""

    async def main() -> T:
        known = asyncssh.import_known_hosts(served.host_key_line)
        async with (
            asyncssh.connect(
                "127.0.0.1",
                served.sftp_port,
                username=customer,
                password=PASSWORDS[customer],
                known_hosts=known,
                client_keys=None,
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):
            return await job(sftp)

    return asyncio.run(main())


async def read(sftp: asyncssh.SFTPClient, name: str) -> bytes:
    async with sftp.open(name, "rb") as file:
        data: bytes = await file.read()
        return data


def test_a_customer_lists_and_downloads_its_files_byte_identical(served: Served) -> None:
    expected = visible(served)

    async def job(sftp: asyncssh.SFTPClient) -> dict[str, bytes]:
        assert sorted(await sftp.listdir(".")) == sorted([".", "..", *expected])
        assert await sftp.getsize(DAY_FILE) == len(served.files[DAY_FILE])
        assert await sftp.realpath(".") == "/"
        with pytest.raises(asyncssh.SFTPNoSuchFile):
            await sftp.realpath("..")  # nothing above the root
        return {name: await read(sftp, name) for name in expected}

    assert with_sftp(served, job) == expected


def test_no_escape_returns_a_byte_from_outside_the_jail(served: Served) -> None:
    async def job(sftp: asyncssh.SFTPClient) -> list[str]:
        leaked = []
        for path in ESCAPES:
            try:
                data = await read(sftp, path)
            except (asyncssh.SFTPError, UnicodeError):
                continue
            leaked.append(f"{path!r}: {data[:40]!r}")
        for folder in ("..", "../C-002", "/..", "%2e%2e", "\uff0e\uff0e", "/etc"):
            with contextlib.suppress(asyncssh.SFTPError):
                leaked.append(f"{folder}: {await sftp.listdir(folder)}")
        for path in ("link.csv", "../../secret.txt"):
            with pytest.raises(asyncssh.SFTPError):
                await sftp.stat(path)
        return leaked

    assert with_sftp(served, job) == []


def test_a_customer_cannot_list_or_fetch_another_customers_files(served: Served) -> None:
    async def job(sftp: asyncssh.SFTPClient) -> Sequence[str]:
        for name in (DAY_FILE, f"../C-001/{DAY_FILE}", f"/C-001/{DAY_FILE}"):
            with pytest.raises(asyncssh.SFTPNoSuchFile):
                await read(sftp, name)
        names = await sftp.listdir("/")
        return names

    names = with_sftp(served, job, "C-002")
    assert OTHER_FILE in names
    assert DAY_FILE not in names


def test_every_write_is_refused(served: Served) -> None:
    before = visible(served)

    async def job(sftp: asyncssh.SFTPClient) -> int:
        refused = 0
        attempts: list[Callable[[], Awaitable[object]]] = [
            lambda: sftp.open("new.csv", "wb"),
            lambda: sftp.open(DAY_FILE, "ab"),
            lambda: sftp.open(DAY_FILE, "r+b"),
            lambda: sftp.remove(DAY_FILE),
            lambda: sftp.rename(DAY_FILE, "x.csv"),
            lambda: sftp.posix_rename(DAY_FILE, "x.csv"),
            lambda: sftp.mkdir("folder"),
            lambda: sftp.rmdir("/"),
            lambda: sftp.chmod(DAY_FILE, 0o777),
            lambda: sftp.utime(DAY_FILE, (0, 0)),
            lambda: sftp.symlink("/etc/passwd", "passwd"),
            lambda: sftp.link(DAY_FILE, "hard.csv"),
            lambda: sftp.readlink("link.csv"),
        ]
        for attempt in attempts:
            with pytest.raises(asyncssh.SFTPError):
                await attempt()
            refused += 1
        return refused

    assert with_sftp(served, job) == 13
    assert visible(served) == before


def test_no_shell_no_exec_no_forwarding(served: Served) -> None:
    async def main() -> None:
        known = asyncssh.import_known_hosts(served.host_key_line)
        async with asyncssh.connect(
            "127.0.0.1",
            served.sftp_port,
            username="C-001",
            password=PASSWORDS["C-001"],
            known_hosts=known,
            client_keys=None,
        ) as conn:
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.run("cat /etc/passwd", check=True)
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.create_process()
            with pytest.raises(asyncssh.ChannelOpenError):
                await conn.open_connection("127.0.0.1", served.ftps_port)
            with pytest.raises(asyncssh.ChannelListenError):
                await conn.forward_remote_port("127.0.0.1", 0, "127.0.0.1", 22)

    asyncio.run(main())


def test_receipts_record_complete_downloads_only(served: Served) -> None:
    before = len(served.receipts("C-001"))

    async def job(sftp: asyncssh.SFTPClient) -> None:
        async with sftp.open("C-001_big.csv", "rb") as file:
            await file.read(1000)  # only a part: no receipt
        await sftp.stat(DAY_FILE)
        await sftp.listdir(".")
        assert await read(sftp, "C-001_big.csv") == served.files["C-001_big.csv"]

    with_sftp(served, job)
    receipts = served.receipts("C-001")[before:]
    assert [(r.file_name, r.revision, r.bytes, r.protocol) for r in receipts] == [
        ("C-001_big.csv", None, 8_000_000, "sftp")
    ]


def test_a_public_key_logs_in_and_a_wrong_password_does_not(served: Served, tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="operator's laptop")
    (tmp_path / "id.pub").write_bytes(key.export_public_key())
    added = kenshin(
        served.site, "customers", "credentials", "C-002", "--ssh-key", str(tmp_path / "id.pub")
    )
    assert added.exit_code == 0, added.output
    assert "1 SSH key(s)" in added.output

    async def main() -> Sequence[str]:
        known = asyncssh.import_known_hosts(served.host_key_line)
        async with (
            asyncssh.connect(
                "127.0.0.1",
                served.sftp_port,
                username="C-002",
                client_keys=[key],
                known_hosts=known,
                password=None,
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):
            names = await sftp.listdir("/")
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncssh.connect(
                "127.0.0.1",
                served.sftp_port,
                username="C-001",  # the key is C-002's
                client_keys=[key],
                known_hosts=known,
                password=None,
                # Another address: C-001's next login from 127.0.0.1, in the next test,
                # must not meet this failure's delay.
                local_addr=("127.0.0.9", 0),
            )
        return names

    assert OTHER_FILE in asyncio.run(main())


@pytest.mark.skipif(
    shutil.which("sftp") is None or shutil.which("ssh-keygen") is None,
    reason="OpenSSH's sftp is not installed",
)
def test_openssh_sftp_downloads_and_is_refused_writes_and_escapes(
    served: Served, tmp_path: Path
) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True
    )
    added = kenshin(
        served.site, "customers", "credentials", "C-001", "--ssh-key", str(tmp_path / "id.pub")
    )
    assert added.exit_code == 0, added.output
    (tmp_path / "known_hosts").write_text(served.host_key_line + "\n")
    (tmp_path / "upload.csv").write_bytes(b"not yours to write\n")
    batch = tmp_path / "batch"
    batch.write_text(
        f"ls -1\nget {DAY_FILE} {tmp_path / 'got.csv'}\n-put {tmp_path / 'upload.csv'} up.csv\n"
        f"-rm {DAY_FILE}\n-mkdir dir\n-get ../../secret.txt {tmp_path / 'secret.txt'}\n"
        f"-get link.csv {tmp_path / 'link.csv'}\n-cd ..\npwd\n"
    )
    done = subprocess.run(
        [
            "sftp",
            "-b",
            str(batch),
            "-i",
            str(tmp_path / "id"),
            "-P",
            str(served.sftp_port),
            "-o",
            f"UserKnownHostsFile={tmp_path / 'known_hosts'}",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=yes",
            "C-001@127.0.0.1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "got.csv").read_bytes() == served.files[DAY_FILE]
    listed = done.stdout.split("sftp> ls -1\n")[1].split("sftp> ")[0].split()
    assert sorted(listed) == sorted(visible(served))
    assert "Remote working directory: /" in done.stdout
    assert not (tmp_path / "secret.txt").exists()
    assert not (tmp_path / "link.csv").exists()
    assert not (served.site / "outbox" / "C-001" / "up.csv").exists()
    assert (served.site / "outbox" / "C-001" / DAY_FILE).exists()
    assert SECRET.decode() not in done.stdout


def test_a_new_file_appears_whole_and_a_revision_replaces_it(served: Served) -> None:
    outbox = LocalOutbox(served.site / "outbox")
    outbox.publish("C-001", "C-001_20261002.csv", b"revision 1\r\n")

    async def job(sftp: asyncssh.SFTPClient) -> list[bytes]:
        first = await read(sftp, "C-001_20261002.csv")
        outbox.publish("C-001", "C-001_20261002.csv", b"revision 2, restated\r\n")
        return [first, await read(sftp, "C-001_20261002.csv")]

    assert with_sftp(served, job) == [b"revision 1\r\n", b"revision 2, restated\r\n"]
    outbox.remove("C-001", "C-001_20261002.csv")


def test_a_hard_link_or_a_file_of_another_owner_is_neither_listed_nor_served(
    served: Served,
) -> None:
    folder = served.site / "outbox" / "C-001"
    key = served.site / "pki" / "ca.key"
    assert key.read_bytes()
    link, foreign = folder / "ca-key.csv", folder / "foreign.csv"
    link.hardlink_to(key)  # the CA's private key, one more name for it in the outbox
    foreign.write_bytes(b"a file kenshin did not publish\n")
    if os.geteuid() == 0:  # only root can give a file away; otherwise a second hard link
        os.chown(foreign, 65534, 65534)
    else:
        foreign.unlink()
        foreign.hardlink_to(folder / DAY_FILE)
    try:

        async def job(sftp: asyncssh.SFTPClient) -> list[str]:
            found = [str(name) for name in await sftp.listdir(".")]
            for name in ("ca-key.csv", "foreign.csv", "/ca-key.csv"):
                with pytest.raises(asyncssh.SFTPNoSuchFile):
                    await read(sftp, name)
            return found

        assert not {"ca-key.csv", "foreign.csv"} & set(with_sftp(served, job))
        with ftps_session(served) as ftp:
            assert not {"ca-key.csv", "foreign.csv"} & set(ftp.nlst())
            listing: list[str] = []
            ftp.retrlines("MLSD", listing.append)
            assert not any("ca-key" in line or "foreign" in line for line in listing)
            for name in ("ca-key.csv", "foreign.csv"):
                received = bytearray()
                with pytest.raises(ftplib.error_perm):
                    ftp.retrbinary(f"RETR {name}", received.extend)
                assert received == b""
    finally:
        link.unlink()
        foreign.unlink()


def openssh_sftp(served: Served, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """OpenSSH's sftp as C-001 with a registered key, ``ls`` in batch mode, with ``options``."""
    key = tmp_path / "id"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        added = kenshin(served.site, "customers", "credentials", "C-001", "--ssh-key", f"{key}.pub")
        assert added.exit_code == 0, added.output
        (tmp_path / "known_hosts").write_text(served.host_key_line + "\n")
    (tmp_path / "batch").write_text("ls -1\n")
    command = ["sftp", "-b", str(tmp_path / "batch"), "-i", str(key), "-P", str(served.sftp_port)]
    for option in (
        f"UserKnownHostsFile={tmp_path / 'known_hosts'}",
        "IdentitiesOnly=yes",
        "BatchMode=yes",
        "StrictHostKeyChecking=yes",
        *options,
    ):
        command += ["-o", option]
    return subprocess.run([*command, "C-001@127.0.0.1"], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(shutil.which("sftp") is None, reason="OpenSSH's sftp is not installed")
def test_a_client_offering_only_weak_algorithms_is_refused(served: Served, tmp_path: Path) -> None:
    good = openssh_sftp(served, tmp_path)
    assert good.returncode == 0, good.stderr
    assert DAY_FILE in good.stdout
    ctr = "Ciphers=aes128-ctr"  # with an AEAD cipher no MAC is used at all
    for options in (
        (ctr, "MACs=hmac-sha1"),
        (ctr, "MACs=hmac-sha1-etm@openssh.com"),
        ("KexAlgorithms=diffie-hellman-group14-sha1",),
        ("KexAlgorithms=diffie-hellman-group-exchange-sha1",),
        ("KexAlgorithms=diffie-hellman-group-exchange-sha256",),  # moduli down to 1024 bits
        ("Ciphers=aes128-cbc",),
        ("HostKeyAlgorithms=ssh-rsa",),
    ):
        weak = openssh_sftp(served, tmp_path, *options)
        assert weak.returncode != 0, options
        assert "no matching" in weak.stderr, (options, weak.stderr)
        assert DAY_FILE not in weak.stdout
    strong = openssh_sftp(served, tmp_path, ctr, "MACs=hmac-sha2-256-etm@openssh.com")
    assert strong.returncode == 0, strong.stderr


def test_asyncssh_offering_a_1024_bit_group_exchange_is_refused(served: Served) -> None:
    async def main() -> None:
        # Refused at key exchange (the client may see the disconnect or only the close).
        with pytest.raises((asyncssh.KeyExchangeFailed, asyncssh.ConnectionLost)):
            await asyncssh.connect(
                "127.0.0.1",
                served.sftp_port,
                username="C-001",
                password=PASSWORDS["C-001"],
                known_hosts=asyncssh.import_known_hosts(served.host_key_line),
                client_keys=None,
                kex_algs=["diffie-hellman-group-exchange-sha256", "diffie-hellman-group1-sha1"],
            )

    asyncio.run(main())


def banners(served: Served, source: str, count: int) -> int:
    """How many of ``count`` new connections from ``source`` the server greeted."""
    greeted = 0
    for _ in range(count):
        with (
            socket.create_connection(
                ("127.0.0.1", served.sftp_port), timeout=10, source_address=(source, 0)
            ) as raw,
            contextlib.suppress(ConnectionResetError),
        ):
            greeted += raw.recv(100).startswith(b"SSH-2.0-")
    return greeted


def test_new_connections_from_one_address_are_limited(served: Served) -> None:
    greeted = banners(served, "127.0.0.3", 400)
    assert 120 <= greeted <= 130  # sftp.max_new_connections_per_minute, then a few
    assert banners(served, "127.0.0.3", 5) == 0
    # Another address is not held up.
    assert banners(served, "127.0.0.4", 1) == 1

    async def job(sftp: asyncssh.SFTPClient) -> bytes:
        return await read(sftp, DAY_FILE)

    assert with_sftp(served, job) == served.files[DAY_FILE]
