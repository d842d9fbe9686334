"""Settings from KENSHIN_* environment variables, over the config file's.

``KENSHIN_<SECTION>__<KEY>`` sets ``section.key`` (names lowercased). A variable holds
text; a setting that is not text takes it as a TOML value (``false``, ``12``,
``["ops@example.com", "oncall@example.com"]``, ``{ "C-001" = 4 }``) or as JSON, and a
list of text also as one item or items separated by commas. A setting that is text
keeps the text as it is, even where it reads as a number.
"""

from __future__ import annotations

import json
import tomllib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from kenshin.errors import ConfigError

ENV_PREFIX = "KENSHIN_"
# Variables of kenshin's that are no setting: the file's path, and those the AWS build's
# functions read besides their settings (the stage's name, the files' bucket...).
CONFIG_VARIABLE, AWS_PREFIX = "KENSHIN_CONFIG", "KENSHIN_AWS_"


def apply_environment(
    data: dict[str, Any], environ: Mapping[str, str], model: type[BaseModel]
) -> None:
    """Put each KENSHIN_* variable of ``environ`` into ``data`` (the file's settings, of
    ``model``), as the type of its setting wants it."""
    for name, value in environ.items():
        if (
            not name.startswith(ENV_PREFIX)
            or name == CONFIG_VARIABLE
            or name.startswith(AWS_PREFIX)
        ):
            continue
        keys = name[len(ENV_PREFIX) :].lower().split("__")
        target = data
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise ConfigError(f"{name}: {key} is not a section")
        target[keys[-1]] = typed(value, annotation(model, keys))


def annotation(model: type[BaseModel], keys: list[str]) -> object:
    """The type of the setting at ``keys``; None past a table of free keys, or unknown."""
    found: Any = model
    for key in keys:
        if not (isinstance(found, type) and issubclass(found, BaseModel)):
            return None
        field = found.model_fields.get(key)
        if field is None:
            return None
        found = field.annotation
    return found


def typed(text: str, kind: object) -> object:
    """``text`` as a setting of type ``kind`` (None: unknown) takes it."""
    if _is_text(kind):
        return text
    value = _literal(text)
    if isinstance(value, str) and typing.get_origin(kind) is list:
        return [item.strip() for item in text.split(",") if item.strip()]
    return value


def _is_text(kind: object) -> bool:
    """Whether ``kind`` is text: str, str or None, or a choice of strings."""
    if kind is str:
        return True
    if isinstance(kind, type) and issubclass(kind, str):  # a StrEnum
        return True
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return all(_is_text(k) or k is type(None) for k in typing.get_args(kind))
    if typing.get_origin(kind) is typing.Literal:
        return all(isinstance(v, str) for v in typing.get_args(kind))
    return False


def _literal(text: str) -> object:
    """``text`` as a TOML value, else as JSON, else as it is."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        pass
    try:
        return json.loads(text)
    except ValueError:
        return text
