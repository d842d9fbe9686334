"""What ingest takes and tells: the payloads received, and counts of what a run did."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum

from kenshin.domain.model import StoreResult


class PayloadKind(StrEnum):
    """The payloads kenshin decodes, by the suffix of their topic (``domain.payloads``);
    ``Incoming.kind`` is any registered suffix."""

    READINGS = "readings"
    ECHONET = "echonet"


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received payload; ``device`` is the sender's identity when the transport knows it.
    ``live`` is False for a message read from a file long after it was sent: its receipt
    says nothing of the unit's clock, nor of when the unit was last heard. A payload sent
    with a certificate (``serial``) revoked by the time it is committed is not stored.
    ``connected_at``: when the receiver's link to a broker was made, for a message that
    may have waited there (a cluster worker's); None where units send to us directly."""

    source: str
    payload: bytes
    received_at: int
    kind: str = PayloadKind.READINGS  # the codec's topic suffix (domain.payloads.CODECS)
    device: str | None = None
    live: bool = True
    serial: int | None = None  # of the sender's certificate, when the transport knows it
    connected_at: int | None = None


# A broker hands a session's waiting messages over within this long of the connection.
HANDED_OVER_S = 300


def sent_live(item: Incoming, sent: int | None) -> int | None:
    """The ``sent`` time of ``item`` where its receipt tells of the unit's clock, else None.
    A message handed over as the receiver's link to the broker was made, and sent before
    it, waited there (a worker restarted): its receipt is late by the wait, which would
    read as the unit's clock being behind. Later messages always count, so that a clock
    far behind, whose messages all seem sent before the link, is still judged."""
    if sent is None or item.connected_at is None:
        return sent
    if item.received_at - item.connected_at <= HANDED_OVER_S and sent < item.connected_at:
        return None
    return sent


@dataclass(slots=True)
class IngestSummary:
    """Counts of what a run of ingest did."""

    messages: int = 0
    readings: int = 0
    stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    dead_letters: int = 0
    meters_discovered: int = 0
    quarantined: int = 0  # readings dated in the future, kept only in their dead letter
    # Readings after a removal set by an operator: stored, outside the meter's service.
    outside_service: int = 0
    outside_meters: set[str] = field(default_factory=set)

    def add_store_result(self, result: StoreResult) -> None:
        """Count what the store did with a batch."""
        self.stored += result.stored
        self.duplicates += result.duplicates
        self.conflicts += len(result.conflicts)

    def add(self, other: IngestSummary) -> None:
        """Count what another run did (a part of a file imported elsewhere) too."""
        for name in fields(self):
            mine, theirs = getattr(self, name.name), getattr(other, name.name)
            setattr(self, name.name, mine | theirs if isinstance(mine, set) else mine + theirs)
