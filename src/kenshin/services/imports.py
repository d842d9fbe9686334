"""Import of stored messages: a stream of JSON lines (a file, standard input, an object
of a bucket) cut into messages and ingested in batches of the configured size.

The command line (``kenshin import``) and any other entrypoint that receives a file of
messages call ``import_lines``; they only open the stream and show progress.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from kenshin.domain.readings_json import MAX_PAYLOAD_BYTES
from kenshin.services.incoming import Incoming, IngestSummary

MAX_LINE_BYTES = MAX_PAYLOAD_BYTES + 1  # longer is refused whatever it holds


class Lines(Protocol):
    """What an import reads: a binary stream's lines (a file, a part of one, stdin)."""

    def readline(self, size: int = -1, /) -> bytes:
        """The next line with its end, at most ``size`` bytes of it; b"" at the end."""


class Ingests(Protocol):
    """What an import needs of ingest: a batch of messages stored in one go."""

    def ingest(
        self, batch: Iterable[Incoming], summary: IngestSummary | None = None
    ) -> IngestSummary:
        """Decode, check and store ``batch``, adding its counts to ``summary``."""


def import_lines(
    ingest: Ingests,
    stream: Lines,
    name: str,
    *,
    batch_size: int,
    clock: Callable[[], float],
    progress: Callable[[int], None] = lambda _consumed: None,
    first_line: int = 1,
) -> IngestSummary:
    """Ingest every non-blank line of ``stream`` as a message named ``{name}:{line}`` (the
    stream's first line numbered ``first_line``: a part of a file), in batches of
    ``batch_size``, each received when ``clock`` says it was read; ``progress`` is told
    the bytes each line took. Lines that cannot be used end as dead letters with their
    reasons; the rest are stored."""
    summary = IngestSummary()
    batch: list[Incoming] = []
    for incoming, consumed in messages(stream, name, clock, first_line):
        batch.append(incoming)
        progress(consumed)
        if len(batch) >= batch_size:
            ingest.ingest(batch, summary)
            batch = []
    if batch:
        ingest.ingest(batch, summary)
    return summary


def messages(
    stream: Lines, name: str, clock: Callable[[], float], first_line: int = 1
) -> Iterator[tuple[Incoming, int]]:
    """Each non-blank line as a message, with the bytes it took; a line longer than any
    message is cut (the decoder then refuses it for its size) and the rest of it skipped,
    so memory stays bounded."""
    number = first_line - 1
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
