"""Import of stored messages: a stream of JSON lines (a file, standard input, an object
of a bucket) cut into messages and ingested in batches of the configured size.

The command line (``kenshin import``) and any other entrypoint that receives a file of
messages call ``import_lines``; they only open the stream and show progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, Protocol

from kenshin.domain.readings_json import MAX_PAYLOAD_BYTES
from kenshin.services.incoming import Incoming, IngestSummary

MAX_LINE_BYTES = MAX_PAYLOAD_BYTES + 1  # longer is refused whatever it holds


class Ingests(Protocol):
    """What an import needs of ingest: a batch of messages stored in one go."""

    def ingest(
        self, batch: Iterable[Incoming], summary: IngestSummary | None = None
    ) -> IngestSummary:
        """Decode, check and store ``batch``, adding its counts to ``summary``."""


def import_lines(
    ingest: Ingests,
    stream: BinaryIO,
    name: str,
    *,
    batch_size: int,
    clock: Callable[[], float],
    progress: Callable[[int], None] = lambda _consumed: None,
) -> IngestSummary:
    """Ingest every non-blank line of ``stream`` as a message named ``{name}:{line}``, in
    batches of ``batch_size``, each received when ``clock`` says it was read; ``progress``
    is told the bytes each line took. Lines that
    cannot be used end as dead letters with their reasons; the rest are stored."""
    summary = IngestSummary()
    batch: list[Incoming] = []
    for incoming, consumed in messages(stream, name, clock):
        batch.append(incoming)
        progress(consumed)
        if len(batch) >= batch_size:
            ingest.ingest(batch, summary)
            batch = []
    if batch:
        ingest.ingest(batch, summary)
    return summary


def messages(
    stream: BinaryIO, name: str, clock: Callable[[], float]
) -> Iterator[tuple[Incoming, int]]:
    """Each non-blank line as a message, with the bytes it took; a line longer than any
    message is cut (the decoder then refuses it for its size) and the rest of it skipped,
    so memory stays bounded."""
    number = 0
    while line := stream.readline(MAX_LINE_BYTES):
        number += 1
        consumed = len(line)
        while not line.endswith(b"\n") and (rest := stream.readline(MAX_LINE_BYTES)):
            consumed += len(rest)
            if rest.endswith(b"\n"):
                break
        payload = line.rstrip(b"\r\n")
        if payload.strip():
            yield Incoming(f"{name}:{number}", payload, int(clock()), live=False), consumed
