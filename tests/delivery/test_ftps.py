"""FTPS with real clients (Python's ftplib, curl) against ``kenshin serve``."""

from __future__ import annotations

import contextlib
import ftplib
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import (
    DAY_FILE,
    OTHER_FILE,
    PASSWORDS,
    SECRET,
    Served,
    make_delivery_site,
    publish_files,
    start_serve,
)

pytestmark = pytest.mark.integration

ESCAPES = [
    f"../C-002/{OTHER_FILE}",
    f"/../C-002/{OTHER_FILE}",
    f"..%2fC-002%2f{OTHER_FILE}",
    f"%2e%2e/C-002/{OTHER_FILE}",
    f"..\\C-002\\{OTHER_FILE}",
    f"\uff0e\uff0e/C-002/{OTHER_FILE}",  # fullwidth dots
    f"....//C-002/{OTHER_FILE}",
    "../../secret.txt",
    "/../../secret.txt",
    "../../../../../../etc/passwd",
    "/etc/passwd",
    "link.csv",  # a symbolic link to the secret
    "other.csv",  # a symbolic link to C-002's file
    f"{DAY_FILE}\x00../../secret.txt",
    ".C-001_20261127.csv.0a1b2c.tmp",
]


def tls(served: Served) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=served.ca)


class ResumingFTP(ftplib.FTP_TLS):
    """Python's FTPS client, its data connections resuming the control connection's TLS
    session as curl's and lftp's do (the server refuses any other)."""

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:  # type: ignore[attr-defined]
            assert isinstance(self.sock, ssl.SSLSocket)
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session
            )
        return conn, size


@contextmanager
def session(
    served: Served, customer: str = "C-001", source: str | None = None
) -> Iterator[ftplib.FTP_TLS]:
    """A logged-in FTPS session with a private data channel (from address ``source``)."""
    ftp = ResumingFTP(
        context=tls(served), timeout=10, source_address=(source, 0) if source else None
    )
    ftp.connect("localhost", served.ftps_port)
    ftp.login(customer, PASSWORDS[customer])
    ftp.prot_p()
    try:
        yield ftp
    finally:
        ftp.close()


def fetch(ftp: ftplib.FTP, name: str) -> bytes:
    data = bytearray()
    ftp.retrbinary(f"RETR {name}", data.extend)
    return bytes(data)


def visible(served: Served, customer: str = "C-001") -> dict[str, bytes]:
    """The customer's files as they are in the outbox: plain names, not links."""
    folder = served.site / "outbox" / customer
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if not p.name.startswith(".") and not p.is_symlink()
    }


def test_a_customer_lists_and_downloads_its_files_byte_identical(served: Served) -> None:
    with session(served) as ftp:
        assert isinstance(ftp.sock, ssl.SSLSocket)
        assert ftp.sock.version() in ("TLSv1.2", "TLSv1.3")
        expected = visible(served)
        assert sorted(ftp.nlst()) == sorted(expected)
        assert DAY_FILE in expected
        assert "link.csv" not in expected
        for name, content in expected.items():
            assert fetch(ftp, name) == content
        assert ftp.size(DAY_FILE) == len(served.files[DAY_FILE])
        assert ftp.sendcmd(f"MDTM {DAY_FILE}").startswith("213 ")


def test_no_escape_returns_a_byte_from_outside_the_jail(served: Served) -> None:
    with session(served) as ftp:
        for path in ESCAPES:
            received = bytearray()
            with pytest.raises(ftplib.error_perm):
                ftp.retrbinary(f"RETR {path}", received.extend)
            assert received == b"", path
            with pytest.raises(ftplib.error_perm):
                ftp.cwd(path.rsplit("/", 1)[0] or path)
        for folder in ("..", "../C-002", "/..", "%2e%2e", "\uff0e\uff0e"):
            with pytest.raises(ftplib.error_perm):
                ftp.nlst(folder)
        assert ftp.pwd() == "/"
        listing: list[str] = []
        ftp.retrlines("LIST", listing.append)
        text = "\n".join(listing)
        assert OTHER_FILE not in text
        assert "secret" not in text
        assert ".tmp" not in text


def test_a_customer_cannot_list_or_fetch_another_customers_files(served: Served) -> None:
    with session(served, "C-002") as ftp:
        assert sorted(ftp.nlst()) == sorted(visible(served, "C-002"))
        assert OTHER_FILE in visible(served, "C-002")
        for name in (DAY_FILE, f"../C-001/{DAY_FILE}", f"/C-001/{DAY_FILE}"):
            with pytest.raises(ftplib.error_perm):
                fetch(ftp, name)


def test_every_write_is_refused(served: Served, tmp_path: Path) -> None:
    upload = tmp_path / "upload.csv"
    upload.write_bytes(b"not yours to write\n")
    before = visible(served)
    with session(served) as ftp:
        with upload.open("rb") as file:
            for command in ("STOR new.csv", f"STOR {DAY_FILE}", f"APPE {DAY_FILE}", "STOU"):
                file.seek(0)
                with pytest.raises(ftplib.error_perm):
                    ftp.storbinary(command, file)
        refused = [
            f"DELE {DAY_FILE}",
            "MKD folder",
            "RMD /",
            f"RNFR {DAY_FILE}",
            f"SITE CHMOD 777 {DAY_FILE}",
            f"MFMT 20200101000000 {DAY_FILE}",
        ]
        for command in refused:
            with pytest.raises(ftplib.error_perm):
                ftp.sendcmd(command)
    assert visible(served) == before
    assert not (served.site / "outbox" / "C-001" / "new.csv").exists()


def test_login_without_tls_is_refused(served: Served) -> None:
    ftp = ftplib.FTP(timeout=10)
    ftp.connect("127.0.0.1", served.ftps_port)
    with pytest.raises(ftplib.error_perm, match="550 SSL/TLS required"):
        ftp.login("C-001", PASSWORDS["C-001"])
    ftp.close()


def test_data_without_prot_p_is_refused(served: Served) -> None:
    ftp = ftplib.FTP_TLS(context=tls(served), timeout=10)
    ftp.connect("localhost", served.ftps_port)
    ftp.login("C-001", PASSWORDS["C-001"])  # PROT P not sent: data would travel in clear
    with pytest.raises(ftplib.error_perm, match="550 SSL/TLS required on the data channel"):
        fetch(ftp, DAY_FILE)
    ftp.close()


def test_tls_older_than_1_2_is_refused(served: Served) -> None:
    def handshake(version: ssl.TLSVersion) -> str | None:
        context = tls(served)
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # this client would speak old TLS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = version
        ftp = ftplib.FTP_TLS(context=context, timeout=10)
        ftp.connect("localhost", served.ftps_port)
        try:
            ftp.auth()
            assert isinstance(ftp.sock, ssl.SSLSocket)
            return ftp.sock.version()
        except (ssl.SSLError, ConnectionError):
            return None
        finally:
            ftp.close()

    assert handshake(ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    assert handshake(ssl.TLSVersion.TLSv1_1) is None
    assert handshake(ssl.TLSVersion.TLSv1) is None


def test_active_mode_is_refused_by_default(served: Served) -> None:
    with session(served) as ftp:
        with pytest.raises(ftplib.error_perm, match="502 Active mode is turned off"):
            ftp.sendcmd("PORT 127,0,0,1,200,10")
        with pytest.raises(ftplib.error_perm, match="502"):
            ftp.sendcmd("EPRT |1|10.9.8.7|51000|")


def test_passive_replies_use_the_configured_port_range(served: Served) -> None:
    with session(served) as ftp:
        host, port = ftplib.parse227(ftp.sendcmd("PASV"))
        assert host == "127.0.0.1"
        assert 41000 <= port <= 41999


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_downloads_with_ssl_reqd_and_plain_curl_is_refused(
    served: Served, tmp_path: Path
) -> None:
    url = f"ftp://localhost:{served.ftps_port}/{DAY_FILE}"
    user = f"C-001:{PASSWORDS['C-001']}"
    out = tmp_path / "out.csv"
    done = subprocess.run(
        ["curl", "-sS", "--ssl-reqd", "--cacert", str(served.ca), "-u", user, "-o", str(out), url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == served.files[DAY_FILE]
    plain = subprocess.run(
        ["curl", "-sS", "-u", user, "-o", str(tmp_path / "plain.csv"), url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert plain.returncode != 0
    assert not (tmp_path / "plain.csv").exists()
    escape = subprocess.run(
        [
            "curl",
            "-sS",
            "--ssl-reqd",
            "--cacert",
            str(served.ca),
            "-u",
            user,
            "--path-as-is",
            f"ftp://localhost:{served.ftps_port}/../../secret.txt",
        ],
        capture_output=True,
        timeout=30,
    )
    assert escape.returncode != 0
    assert SECRET not in escape.stdout


def test_receipts_show_only_real_downloads(served: Served) -> None:
    before = {c: len(served.receipts(c)) for c in ("C-001", "C-002")}
    with session(served) as ftp:
        ftp.nlst()
        ftp.voidcmd("TYPE I")
        assert ftp.size("C-001_big.csv") == 8_000_000
        with pytest.raises(ftplib.error_perm):
            fetch(ftp, "missing.csv")
        conn = ftp.transfercmd("RETR C-001_big.csv")  # a download cut short
        assert len(conn.recv(1000)) > 0
        conn.close()
    with session(served, "C-002") as ftp:
        assert fetch(ftp, OTHER_FILE) == b"C-002's own data\r\n"
    receipts = served.receipts("C-002", at_least=before["C-002"] + 1)[before["C-002"] :]
    assert len(served.receipts("C-001")) == before["C-001"]
    assert [(r.file_name, r.bytes, r.protocol, r.address) for r in receipts] == [
        (OTHER_FILE, 18, "ftps", "127.0.0.1")
    ]


def test_revision_comes_from_the_manifest(served: Served) -> None:
    before = len(served.receipts("C-001"))
    with session(served) as ftp:
        fetch(ftp, DAY_FILE)
    last = served.receipts("C-001", at_least=before + 1)[-1]
    assert (last.file_name, last.revision, last.bytes) == (DAY_FILE, 2, len(served.files[DAY_FILE]))


def test_a_port_that_speaks_no_ftp_gets_nothing(served: Served) -> None:
    with socket.create_connection(("127.0.0.1", served.ftps_port), timeout=10) as raw:
        assert raw.recv(100).startswith(b"220 ")
        raw.sendall(b"USER C-001\r\n")
        assert raw.recv(100).startswith(b"550 SSL/TLS required")


@pytest.mark.skipif(shutil.which("lftp") is None, reason="lftp is not installed")
def test_lftp_mirrors_the_folder_over_ftps(served: Served, tmp_path: Path) -> None:
    script = (
        f"set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:ca-file {served.ca};"
        f" set net:max-retries 1; open --env-password -u C-001 -p {served.ftps_port} localhost;"
        f" mirror / {tmp_path / 'mirror'}; quit"
    )
    env = {**os.environ, "LFTP_PASSWORD": PASSWORDS["C-001"]}
    done = subprocess.run(
        ["lftp", "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    mirrored = {p.name: p.read_bytes() for p in (tmp_path / "mirror").iterdir()}
    assert mirrored == visible(served)


@pytest.mark.skipif(shutil.which("lftp") is None, reason="lftp is not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="runs lftp as another user: needs root")
def test_lftp_mirror_leaves_files_a_customer_who_is_not_root_can_read(served: Served) -> None:
    # A customer's own account, not root: nobody (uid 65534), in a folder of its own.
    home = Path(tempfile.mkdtemp(prefix="kenshin-customer-"))
    try:
        shutil.copy(served.ca, home / "ca.pem")
        os.chown(home, 65534, 65534)
        os.chown(home / "ca.pem", 65534, 65534)
        script = (
            f"set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:ca-file {home}/ca.pem;"
            f" set net:max-retries 1; open --env-password -u C-001 -p {served.ftps_port} localhost;"
            f" mirror / {home / 'mirror'}; quit"
        )
        env = {"HOME": str(home), "PATH": os.environ["PATH"], "LFTP_PASSWORD": PASSWORDS["C-001"]}
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "lftp", "-c", script],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        read = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
                f'cd {home / "mirror"} && for f in *; do cat "$f" >/dev/null || echo "$f"; done',
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert (read.returncode, read.stdout, read.stderr) == (0, "", "")
        mirrored = {p.name: p.read_bytes() for p in (home / "mirror").iterdir()}
        assert mirrored == visible(served)
    finally:
        shutil.rmtree(home)


def test_mlsd_gives_the_mode_in_plain_octal_and_no_owner(served: Served) -> None:
    with session(served) as ftp:
        ftp.sendcmd("OPTS MLST type;size;unix.mode;unix.uid;unix.gid;")
        lines: list[str] = []
        ftp.retrlines("MLSD", lines.append)
        facts = dict(
            fact.split("=", 1) for fact in lines[0].split(" ", 1)[0].rstrip(";").split(";")
        )
        feat = ftp.sendcmd("FEAT")
    assert re.fullmatch(r"0[0-7]{3}", facts["unix.mode"]), lines[0]
    assert "unix.uid" not in facts
    assert "unix.gid" not in facts
    assert "unix.uid" not in feat


def idle_connections(served: Served, source: str, count: int) -> list[tuple[socket.socket, bytes]]:
    """``count`` connections from ``source`` that never log in, each with the server's
    first reply."""
    opened = []
    for _ in range(count):
        raw = socket.create_connection(
            ("127.0.0.1", served.ftps_port), timeout=10, source_address=(source, 0)
        )
        opened.append((raw, raw.recv(200)))
    return opened


def closed_by_server(raw: socket.socket, within_s: float) -> bool:
    """Whether the server closes ``raw`` within ``within_s`` seconds (it reads to the end)."""
    raw.settimeout(within_s)
    try:
        while raw.recv(200):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_idle_connections_from_one_address_leave_room_for_customers(served: Served) -> None:
    flood = idle_connections(served, "127.0.0.5", 600)
    try:
        replies = [reply for _raw, reply in flood]
        greeted = sum(reply.startswith(b"220 ") for reply in replies)
        assert 1 <= greeted <= 20
        assert replies[-1].startswith(b"421 ")
        with session(served, source="127.0.0.2") as ftp:
            assert fetch(ftp, DAY_FILE) == served.files[DAY_FILE]
    finally:
        for raw, _reply in flood:
            raw.close()


def test_connections_that_do_not_log_in_are_closed_and_make_room(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    site = make_delivery_site(tmp_path_factory.mktemp("slots"))
    files = publish_files(site)
    served = start_serve(
        site,
        KENSHIN_FTPS__MAX_CONNECTIONS="8",
        KENSHIN_FTPS__MAX_CONNECTIONS_PER_ADDRESS="3",
        KENSHIN_FTPS__LOGIN_TIMEOUT_S="2",
    )
    flood: list[tuple[socket.socket, bytes]] = []
    try:
        # Three addresses hold as many connections as they may, more than half the slots.
        for source in ("127.0.0.5", "127.0.0.6", "127.0.0.7"):
            flood += idle_connections(served, source, 3)
        assert all(reply.startswith(b"220 ") for _raw, reply in flood)
        with session(served, source="127.0.0.2") as ftp:
            assert fetch(ftp, DAY_FILE) == files[DAY_FILE]
            # Connections that never log in are closed after ftps.login_timeout_s...
            assert all(closed_by_server(raw, 10) for raw, _reply in flood)
            # ...a customer's session is not.
            assert fetch(ftp, DAY_FILE) == files[DAY_FILE]
    finally:
        for raw, _reply in flood:
            raw.close()
        served.stop()


def s_client(served: Served, *options: str) -> subprocess.CompletedProcess[str]:
    """``openssl s_client`` through ``AUTH TLS`` to the server, with ``options``."""
    return subprocess.run(
        [
            *("openssl", "s_client", "-starttls", "ftp", "-CAfile", str(served.ca)),
            *("-connect", f"127.0.0.1:{served.ftps_port}", *options),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_tls_1_2_suites_without_aead_or_forward_secrecy_are_refused(served: Served) -> None:
    weak = [
        "AES128-SHA",  # CBC, SHA-1, no forward secrecy
        "ECDHE-ECDSA-AES128-SHA",  # CBC, SHA-1
        "ECDHE-RSA-AES256-SHA",
        "ECDHE-ECDSA-AES128-SHA256",  # CBC
        "AES128-GCM-SHA256",  # no forward secrecy
        "DHE-RSA-AES128-SHA",
    ]
    for cipher in weak:
        refused = s_client(served, "-tls1_2", "-cipher", cipher)
        assert refused.returncode != 0, cipher
        assert "handshake failure" in refused.stderr, (cipher, refused.stderr)
    for options in (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], ["-tls1_3"], []):
        good = s_client(served, *options)
        assert good.returncode == 0, (options, good.stderr)
        assert "Verify return code: 0 (ok)" in good.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_offering_only_a_cbc_suite_is_refused(served: Served, tmp_path: Path) -> None:
    def curl(*options: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [
                *("curl", "-sS", "--ssl-reqd", "--cacert", str(served.ca), "--tls-max", "1.2"),
                *("-u", f"C-001:{PASSWORDS['C-001']}", *options),
                f"ftp://localhost:{served.ftps_port}/{DAY_FILE}",
            ],
            capture_output=True,
            timeout=30,
        )

    refused = curl("--ciphers", "ECDHE-ECDSA-AES128-SHA:AES128-SHA")
    assert refused.returncode == 35  # TLS handshake failed
    assert refused.stdout == b""
    good = curl()  # TLS 1.2, its data connection resuming the session
    assert (good.returncode, good.stdout) == (0, served.files[DAY_FILE])


def test_a_data_connection_must_resume_its_control_connections_tls_session(
    served: Served,
) -> None:
    context = tls(served)
    plain = ftplib.FTP_TLS(context=context, timeout=10)  # no session reuse: a new session
    other = ResumingFTP(context=context, timeout=10)
    victim = ResumingFTP(context=context, timeout=10)
    try:
        for ftp in (plain, other, victim):
            ftp.connect("localhost", served.ftps_port)
            ftp.login("C-001", PASSWORDS["C-001"])
            ftp.prot_p()
        received = bytearray()
        with pytest.raises(ftplib.error_perm, match="522 TLS session reuse required"):
            plain.retrbinary(f"RETR {DAY_FILE}", received.extend)
        assert received == b""
        # A session of another control connection (another login, or just AUTH TLS)
        # does not open this one's data connection.
        assert isinstance(other.sock, ssl.SSLSocket)
        host, port = victim.makepasv()
        with socket.create_connection((host, port), timeout=10) as raw:
            assert victim.sendcmd(f"RETR {DAY_FILE}").startswith("1")
            session = other.sock.session
            with (
                context.wrap_socket(raw, server_hostname="localhost", session=session) as conn,
                contextlib.suppress(ssl.SSLError, OSError),
            ):
                while chunk := conn.recv(1000):
                    received += chunk
        with pytest.raises(ftplib.error_perm, match="522 TLS session reuse required"):
            victim.voidresp()
        assert received == b""
        assert fetch(victim, DAY_FILE) == served.files[DAY_FILE]
    finally:
        for ftp in (plain, other, victim):
            ftp.close()
