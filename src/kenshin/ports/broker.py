"""The ports of what reaches the units: a worker's link to the MQTT broker the units
publish to, and the publishing of commands to them (through that broker, or AWS IoT
Core)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class CommandLink(Protocol):
    """What sends a message to units: the broker's link, or AWS IoT Core's data plane."""

    def publish(self, topic: str, payload: bytes, *, retain: bool, expiry_s: int) -> bool:
        """Publish at QoS 1, expiring after ``expiry_s``: whether the broker took it."""


class UnitMessages(Protocol):
    """The units' messages as a broker hands them to a worker (``Delivery``, given to
    the callback the link was made with), acknowledged only when the worker says so."""

    @property
    def connected(self) -> bool:
        """Whether the link is up and subscribed."""

    @property
    def held(self) -> int | None:
        """How many messages the broker holds, as it last said (None: it does not say)."""

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe; an error saying why when the broker cannot be used."""

    def ack(self, tickets: Sequence[tuple[int, int]]) -> None:
        """Acknowledge the messages of ``tickets`` (stored), in the order they came."""

    def redeliver(self) -> None:
        """Have the broker send every message not acknowledged again."""

    def publish(self, topic: str, payload: bytes, *, retain: bool, expiry_s: int) -> bool:
        """Publish at QoS 1: whether the broker took it."""

    def kick(self, client_id: str, timeout_s: float = 10.0) -> bool:
        """Close the connection of the client ``client_id`` (a revoked unit) and end its
        session: whether it was done."""

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect; the session (and what was not acknowledged) stays at the broker
        unless ``end_session``."""
