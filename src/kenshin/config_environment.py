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


def annotation(model: type[BaseModel], keys: list[str]) -> list[object]:
    """The types the setting at ``keys`` may have: one, or one per kind of a table that
    has kinds (an alert channel's type); ``Any`` where the table's keys are free (VEE
    settings, checked by their own rules); none if no setting is there."""
    found: list[object] = [model]
    for key in keys:
        found = [kind for parent in found for kind in _member(parent, key)]
    return found


def _member(kind: object, key: str) -> list[object]:
    """The types of ``key`` in a value of type ``kind``."""
    kinds = _alternatives(kind)
    if len(kinds) > 1:
        return [member for k in kinds for member in _member(k, key)]
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        field = kind.model_fields.get(key)
        return [] if field is None else [field.annotation]
    if typing.get_origin(kind) is dict:
        return [typing.get_args(kind)[1]]
    return [Any] if kind is Any else []


def _alternatives(kind: object) -> list[object]:
    """The types ``kind`` stands for: the members of a union, what is annotated."""
    origin = typing.get_origin(kind)
    if origin is typing.Annotated:
        return _alternatives(typing.get_args(kind)[0])
    if origin in (typing.Union, types.UnionType):
        return [k for member in typing.get_args(kind) for k in _alternatives(member)]
    return [kind]


def typed(text: str, kinds: list[object]) -> object:
    """``text`` as a setting of one of ``kinds`` takes it: as it is if any is text, or
    none is known; else read as a value."""
    if not kinds or any(_is_text(k) for k in kinds):
        return text
    value = _literal(text)
    if isinstance(value, str) and any(typing.get_origin(k) in (list, tuple) for k in kinds):
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
