"""Delivery settings, the host key made at init, and user names that cannot forge log lines."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kenshin.adapters.memory import MemoryStore
from kenshin.adapters.ssh_host_key import ensure_host_key, host_key_fingerprint
from kenshin.bootstrap import init_project, open_app
from kenshin.config import load_settings
from kenshin.errors import ConfigError
from kenshin.services.accounts import Logins, shown
from kenshin.services.login_guard import LoginPolicy
from kenshin.services.security import SecurityLog


def test_init_makes_a_host_key_that_is_kept(tmp_path: Path) -> None:
    config = init_project(tmp_path / "site")
    app = open_app(config)
    key = app.host_key_path
    app.close()
    assert key == tmp_path / "site" / "ssh" / "host_key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.parent.stat().st_mode & 0o777 == 0o700
    before = key.read_bytes()
    fingerprint = host_key_fingerprint(key)
    assert fingerprint.startswith("SHA256:")
    assert not ensure_host_key(key)
    assert key.read_bytes() == before


def test_secure_defaults_and_checked_port_ranges(tmp_path: Path) -> None:
    config = init_project(tmp_path / "site")
    settings = load_settings(config)
    assert (settings.ftps.port, settings.sftp.port) == (2121, 2222)
    assert not settings.ftps.allow_plain
    assert not settings.ftps.active_mode
    assert settings.ftps.passive_range == range(50000, 50100)
    assert settings.deliveries.max_failed_logins == 5
    for bad in ("50100-50000", "80-90", "1-2-3", "50000"):
        with pytest.raises(ConfigError, match=r"ftps\.passive_ports"):
            load_settings(config, {"KENSHIN_FTPS__PASSIVE_PORTS": bad})


def test_a_user_name_cannot_forge_a_log_line() -> None:
    assert shown("C-001") == "C-001"
    assert shown("x\nsecurity event forged") == "'x\\nsecurity event forged'"
    security = SecurityLog()
    logins = Logins(MemoryStore().deliveries, security, LoginPolicy())
    assert not logins.password("a\r\nb", "pass", "192.0.2.1", "ftps")
    assert security.counts == {"login_failed": 1}


@contextmanager
def taken_port() -> Iterator[int]:
    """A port of 127.0.0.1 another socket listens on meanwhile."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


@pytest.mark.integration
def test_serve_says_which_server_cannot_listen_and_how_to_fix_it(tmp_path: Path) -> None:
    config = init_project(tmp_path / "site")
    with taken_port() as port:
        env = {"KENSHIN_FTPS__HOST": "127.0.0.1", "KENSHIN_FTPS__PORT": str(port)}
        done = serve_briefly(config, env)
    assert done.returncode == 1
    assert (
        f"Error: ftps: cannot listen on 127.0.0.1 port {port} (Address already in use):"
        " set ftps.port to a free port, or ftps.enabled = false"
    ) in done.stderr
    (tmp_path / "site" / "bad.pem").write_text("not a certificate")
    env = {"KENSHIN_FTPS__PORT": "0", "KENSHIN_FTPS__CERTIFICATE": "bad.pem"}
    done = serve_briefly(config, env)
    assert done.returncode == 1
    assert "Error: ftps.certificate, ftps.key:" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.integration
def test_each_listener_names_the_setting_that_fits_why_it_cannot_listen(tmp_path: Path) -> None:
    config = init_project(tmp_path / "site")
    with taken_port() as port:
        done = serve_briefly(config, {"KENSHIN_MQTT__PORT": str(port)})
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"Error: mqtt: cannot listen on 127.0.0.1 port {port} (Address already in use):"
        " set mqtt.port to a free port"
    )
    done = serve_briefly(config, {"KENSHIN_MQTT__HOST": "999.0.0.1"})
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "Error: mqtt: cannot listen on 999.0.0.1 port 0 (Name or service not known):"
        " set mqtt.host to an address of this machine (0.0.0.0: all of them)"
    )
    for section in ("ftps", "sftp"):
        env = {"KENSHIN_FTPS__PORT": "0", f"KENSHIN_{section.upper()}__HOST": "nohost.invalid"}
        done = serve_briefly(config, env)
        assert done.returncode == 1
        assert done.stderr.splitlines()[-1] == (
            f"Error: {section}: cannot listen on nohost.invalid port 0 (Name or service not"
            f" known): set {section}.host to an address of this machine (0.0.0.0: all of"
            f" them), or {section}.enabled = false"
        )


@pytest.mark.integration
def test_a_host_key_that_is_no_ssh_key_is_named_with_the_fix(tmp_path: Path) -> None:
    config = init_project(tmp_path / "site")
    done = serve_briefly(
        config, {"KENSHIN_FTPS__PORT": "0", "KENSHIN_SFTP__HOST_KEY": "pki/ca.pem"}
    )
    assert done.returncode == 1
    assert (
        f"Error: sftp.host_key (KENSHIN_SFTP__HOST_KEY): {tmp_path / 'site' / 'pki' / 'ca.pem'}"
        " is not an SSH private key ("
    ) in done.stderr
    assert "point sftp.host_key at the server's host key" in done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "site" / "ssh" / "host_key").write_text("garbage\n")
    done = serve_briefly(config, {"KENSHIN_FTPS__PORT": "0"}, "files")
    assert done.returncode == 1
    assert "Error: sftp.host_key (KENSHIN_SFTP__HOST_KEY): " in done.stderr
    assert "Traceback" not in done.stderr


def serve_briefly(
    config: Path, env: dict[str, str], command: str = "serve"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kenshin", "--config", str(config), command],
        capture_output=True,
        text=True,
        timeout=30,
        env={
            **os.environ,
            "KENSHIN_MQTT__HOST": "127.0.0.1",
            "KENSHIN_MQTT__PORT": "0",
            "KENSHIN_SFTP__PORT": "0",
            "KENSHIN_HTTP__PORT": "0",
            **env,
        },
    )
