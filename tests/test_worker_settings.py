"""What ``kenshin worker`` and ``kenshin cluster`` need, and say when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import kenshin, make_site
from kenshin.config import load_settings
from kenshin.errors import ConfigError


def test_a_worker_on_the_sqlite_file_is_refused_naming_store_url(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    result = kenshin(site, "worker", "--name", "w1")
    assert result.exit_code == 1
    assert "store.url: the processes of a cluster share one PostgreSQL store" in result.output
    status = kenshin(site, "cluster", "status")
    assert status.exit_code == 1
    assert "store.url:" in status.output


def test_a_bad_worker_name_says_what_is_expected(tmp_path: Path) -> None:
    site = make_site(tmp_path, "site")
    result = kenshin(site, "worker", "--name", "w 1")
    assert result.exit_code == 2
    assert "'w 1': expected 1 to 64 letters, digits" in result.output


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mqtt://broker:1883", "is no broker URL: give mqtts://HOST:PORT (TLS is required"),
        ("mqtts://", "is no broker URL"),
        ("mqtts://broker:99999", "the port is no number from 0 to 65535"),
    ],
)
def test_a_broker_url_that_is_not_mqtts_stops_loading(tmp_path: Path, url: str, said: str) -> None:
    config = tmp_path / "kenshin.toml"
    config.write_text(f'[broker]\nurl = "{url}"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert "broker.url" in str(raised.value)
    assert said in str(raised.value)


def test_a_broker_url_gives_host_and_port(tmp_path: Path) -> None:
    config = tmp_path / "kenshin.toml"
    config.write_text('[broker]\nurl = "mqtts://mqtt.example.com"\n')
    broker = load_settings(config).broker
    assert (broker.host, broker.port) == ("mqtt.example.com", 8883)
