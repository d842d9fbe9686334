"""The units' ports: each unit's clock as its messages tell it, and (for the simulator)
the units of a fleet with their connections to a device endpoint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from kenshin.domain.vee.clock import DriftSpell, UnitClock

# A unit's TLS state kept between its wakes: the adapter's own type, opaque to services.
TlsState = TypeVar("TlsState")
TlsState_co = TypeVar("TlsState_co", covariant=True)


class UnitClocks(Protocol):
    """Each unit's clock as its messages tell it (``domain.vee.clock``): when it was last
    heard, its offset, and the spells in which it drifted beyond the limit."""

    def clocks(self, devices: Iterable[str]) -> dict[str, UnitClock]:
        """The stored clocks of those of ``devices`` ever heard, by device."""

    def record(self, clocks: Sequence[UnitClock], spells: Sequence[DriftSpell]) -> None:
        """In one transaction: save ``clocks`` (one per device, replacing what was stored)
        and ``spells``, each replacing the stored spell of its device and start."""

    def last_seen(self) -> dict[str, int]:
        """When each unit ever heard was last heard (UTC epoch s), by device."""

    def save_status(self, device: str, at: int, payload: bytes) -> None:
        """Keep ``payload`` as the last status message of ``device``, received at ``at``."""

    def save_statuses(self, statuses: Mapping[str, tuple[int, bytes]]) -> None:
        """In one transaction: keep each (received at, payload) of ``statuses`` as the last
        status message of its device."""

    def statuses(self) -> dict[str, tuple[int, bytes]]:
        """The last status message of each unit that sent one, and when it came, by device."""

    def drift_spells(
        self, start: int, end: int, devices: Sequence[str] | None = None
    ) -> list[DriftSpell]:
        """The drift spells covering any of [start, end), optionally of ``devices`` only,
        by device then start."""


class UnitConnection(Protocol[TlsState_co]):
    """One wake of a unit at a device endpoint: it connects with the unit's own
    certificate, publishes at QoS 1, waits for every PUBACK and disconnects. UnitError
    when the unit cannot publish at all, WakeFailed when this wake failed (kenshin.errors).
    Then ``published`` counts the PUBLISHes sent, ``connected`` is 1 once the endpoint
    accepted the connection, ``stalled`` says why what was awaited did not come, and
    ``offset_s`` is the reporting offset the endpoint's CONNACK gave (None: it gave none).
    """

    published: int
    connected: int
    stalled: str
    offset_s: int | None

    @property
    def tls(self) -> TlsState_co | None:
        """The TLS state to resume at the unit's next wake, once it was made."""

    def probe(self) -> None:
        """Connect and disconnect; UnitError saying why the endpoint cannot be used."""

    def publish(self, payloads: list[str]) -> list[int]:
        """Publish each payload at QoS 1; the indices of those not acknowledged in time."""


class Units(Protocol[TlsState]):
    """The units of a fleet and the device endpoint they publish to."""

    def check(self, device: str) -> None:
        """UnitError, saying how to make them, if files the unit needs are missing."""

    def open(self, device: str, tls: TlsState | None) -> UnitConnection[TlsState]:
        """A connection for one wake of ``device``, resuming ``tls`` of an earlier wake."""
