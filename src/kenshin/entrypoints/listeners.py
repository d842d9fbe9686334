"""What ``kenshin serve`` tells about each of its listeners."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Listener:
    """One address the server listens on."""

    protocol: str
    host: str
    port: int
