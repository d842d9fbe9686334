"""Settings: defaults, environment overrides, clear errors, and every key documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from kenshin.config import DEFAULT_CONFIG_TEXT, Settings, load_settings
from kenshin.errors import ConfigError

DOCS = Path(__file__).parent.parent / "docs" / "configuration.md"


def keys_of(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(keys_of(annotation, f"{prefix}{name}."))
        else:
            keys.append(f"{prefix}{name}")
    return keys


def test_every_setting_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [key for key in keys_of(Settings) if f"`{key}`" not in text]
    assert missing == []


def test_default_file_is_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text(DEFAULT_CONFIG_TEXT)
    assert load_settings(path, environ={}) == Settings()


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text(DEFAULT_CONFIG_TEXT)
    settings = load_settings(path, environ={"KENSHIN_EXPORT__GRACE_HOURS": "12"})
    assert settings.export.grace_hours == 12


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        (
            "[export]\ngrace_hours = 'soon'\n",
            {},
            "export.grace_hours (KENSHIN_EXPORT__GRACE_HOURS)",
        ),
        ("[export]\nretention = 45\n", {}, "export.retention: unknown setting"),
        ("colour = 'red'\n", {}, "colour: unknown setting"),
        ("", {"KENSHIN_METERS__MAX_DEMAND_KW": "0"}, "greater than or equal to 1"),
        ("[store\n", {}, "is not valid TOML"),
        (
            "[report]\ntimezone = 'Mars/Olympus'\n",
            {},
            "report.timezone (KENSHIN_REPORT__TIMEZONE): Value error, unknown time zone"
            " 'Mars/Olympus': use an IANA name such as 'Asia/Tokyo'",
        ),
    ],
)
def test_bad_config_names_the_key_and_the_fix(
    tmp_path: Path, text: str, environ: dict[str, str], expected: str
) -> None:
    path = tmp_path / "kenshin.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ)
    assert expected in str(caught.value)


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="kenshin init"):
        load_settings(tmp_path / "nope.toml", environ={})
