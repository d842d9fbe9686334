"""The AWS build's settings file: both stages, each with its account, names and sizes; a
file that cannot be used says why before anything is synthesized."""

from __future__ import annotations

from pathlib import Path

import pytest

from kenshin_infra.settings import EXAMPLE, SettingsError, load_settings

from .conftest import STAGES


def test_the_example_has_both_stages_with_the_ca_beside_it() -> None:
    settings = load_settings(EXAMPLE)
    assert set(settings.stages) == set(STAGES)
    for stage in settings.stages.values():
        assert stage.ca_certificate == EXAMPLE.parent / "example-ca.pem"
        assert stage.ca_pem().startswith("-----BEGIN CERTIFICATE-----")
        assert stage.file_retention_days == 45
        assert stage.kenshin_config == EXAMPLE.parent / "kenshin.aws.example.toml"
        assert stage.kenshin_config.is_file()
        assert stage.dependencies_layer == EXAMPLE.parent / "build" / "dependencies"
    assert settings.stages["staging"].account != settings.stages["production"].account


def write(folder: Path, text: str) -> Path:
    path = folder / "settings.toml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8") + text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("added", "said"),
    [
        ("[stages.production.extra]\nx = 1\n", "extra"),
        ("[stages.qa]\naccount = '12345'\n", "account"),
        ("[other]\n", "other"),
        ("[stages.qa]\nses_sender = 'alerts'\n", "ses_sender"),
        ("[stages.qa]\nftps_client_cidrs = ['10.0.0.0/33']\n", "ftps_client_cidrs"),
        ("[stages.qa]\nreport_time_utc = '24:00'\n", "report_time_utc"),
        ("[stages.qa]\nftps_certificate_arn = 'arn:aws:iam::1:x'\n", "ftps_certificate_arn"),
    ],
)
def test_a_setting_that_cannot_be_used_is_named(tmp_path: Path, added: str, said: str) -> None:
    with pytest.raises(SettingsError, match=said):
        load_settings(write(tmp_path, added))


def test_both_stages_are_needed(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    path.write_text(text.split("[stages.production]")[0], encoding="utf-8")
    with pytest.raises(SettingsError, match="no stage production"):
        load_settings(path)


def test_a_ca_file_without_a_certificate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "example-ca.pem").write_text("not a certificate\n", encoding="ascii")
    settings = load_settings(write(tmp_path, ""))
    with pytest.raises(SettingsError, match="ca_certificate"):
        settings.stages["staging"].ca_pem()


@pytest.mark.parametrize("left_out", ["ftps_certificate_arn", "ftps_client_cidrs"])
def test_ftps_needs_its_certificate_and_the_customers_networks(
    tmp_path: Path, left_out: str
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    kept = "\n".join(line for line in text.splitlines() if not line.startswith(left_out))
    path = tmp_path / "settings.toml"
    path.write_text(kept, encoding="utf-8")
    with pytest.raises(SettingsError, match="ftps: give ftps_certificate_arn"):
        load_settings(path)


def test_the_ftps_certificate_must_be_in_the_stages_region_and_account(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    elsewhere = text.replace("acm:ap-northeast-1:111111111111", "acm:us-east-1:111111111111")
    assert elsewhere != text
    path = tmp_path / "settings.toml"
    path.write_text(elsewhere, encoding="utf-8")
    with pytest.raises(SettingsError, match="not in the stage's region and account"):
        load_settings(path)
