"""Every exception class kenshin defines is a KenshinError, so that one ``except`` at an
entrypoint catches whatever kenshin raises on purpose; protocol errors carry their code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import kenshin
from kenshin.entrypoints.mqtt.data_representation import MALFORMED_PACKET, MalformedPacket
from kenshin.entrypoints.mqtt.reasons import NOT_AUTHORIZED, Refused
from kenshin.errors import KenshinError, ProtocolError

# Exception classes allowed outside KenshinError, each with its reason. Keep it empty.
OUTSIDE: dict[str, str] = {}


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(kenshin.__path__, "kenshin."):
        if info.name.endswith("__main__"):  # running it starts the command line
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def test_every_exception_kenshin_defines_is_a_kenshin_error() -> None:
    classes = _exception_classes()
    # the walk found them
    assert "kenshin.entrypoints.mqtt.data_representation.MalformedPacket" in classes
    outside = sorted(
        name
        for name, cls in classes.items()
        if not issubclass(cls, KenshinError) and name not in OUTSIDE
    )
    assert outside == []


def test_mqtt_refusals_are_protocol_errors_with_their_reason_code() -> None:
    refused = Refused(NOT_AUTHORIZED, "certificate revoked")
    malformed = MalformedPacket("remaining length is longer than four bytes")
    assert isinstance(refused, ProtocolError)
    assert refused.reason_code == NOT_AUTHORIZED
    assert isinstance(malformed, ProtocolError)
    assert malformed.reason_code == MALFORMED_PACKET
    assert str(malformed) == "remaining length is longer than four bytes (reason code 0x81)"
