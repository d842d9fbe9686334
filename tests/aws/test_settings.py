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
