"""Import of a stream of JSON lines: batched, bounded in memory, nothing lost."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from kenshin.adapters.memory import MemoryStore
from kenshin.domain.model import Customer, Device
from kenshin.domain.readings_json import MAX_PAYLOAD_BYTES
from kenshin.services.imports import import_lines
from kenshin.services.incoming import Incoming, IngestSummary
from kenshin.services.ingest import Ingest

T0 = 1_795_663_800  # 2026-11-26T12:30:00+09:00


def line(fwd: int, slot: int) -> bytes:
    """A JSON v1 message of meter M-1 with one reading ``slot`` half hours after T0."""
    at = datetime.fromtimestamp(T0 + 1800 * slot, UTC).isoformat()
    reading = {"t": at, "fwd": fwd}
    meter = {"meter": "M-1", "unit": "0.1kWh", "coefficient": 1, "digits": 6}
    document = {
        "v": 1,
        "device": "U-1",
        "seq": slot,
        "sent": at,
        "meters": [meter | {"readings": [reading]}],
    }
    return json.dumps(document).encode()


class Batches:
    """The real ingest, noting the size of each batch it was given."""

    def __init__(self, ingest: Ingest) -> None:
        self.ingest_ = ingest
        self.sizes: list[int] = []

    def ingest(
        self, batch: Iterable[Incoming], summary: IngestSummary | None = None
    ) -> IngestSummary:
        items = list(batch)
        self.sizes.append(len(items))
        return self.ingest_.ingest(items, summary)


def store() -> MemoryStore:
    site = MemoryStore()
    site.registry.add_customer(Customer("C-1", "one"))
    site.registry.add_device(Device("U-1", "C-1"))
    return site


def test_lines_are_ingested_in_batches_of_the_size_asked_and_blank_ones_skipped() -> None:
    site = store()
    text = b"\r\n".join(line(100 + i, i) for i in range(5)) + b"\r\n\r\n   \n"
    batches = Batches(Ingest(site))
    summary = import_lines(
        batches, io.BytesIO(text), "f.jsonl", batch_size=2, clock=lambda: T0 + 10**6
    )
    assert batches.sizes == [2, 2, 1]
    assert (summary.messages, summary.stored, summary.dead_letters) == (5, 5, 0)
    [(_, readings)] = site.readings.readings_between(["M-1"], T0, T0 + 5 * 1800)
    assert [r.fwd for r in readings] == [100, 101, 102, 103, 104]


def test_a_line_longer_than_any_message_is_a_dead_letter_and_the_next_line_is_read() -> None:
    site = store()
    huge = b'{"v": 1, "pad": "' + b"x" * (MAX_PAYLOAD_BYTES * 3) + b'"}'
    text = huge + b"\n" + line(100, 0) + b"\n"
    seen: list[int] = []
    summary = import_lines(
        Ingest(site),
        io.BytesIO(text),
        "f.jsonl",
        batch_size=10,
        clock=lambda: T0 + 10**6,
        progress=seen.append,
    )
    assert (summary.messages, summary.stored, summary.dead_letters) == (2, 1, 1)
    assert sum(seen) == len(text)  # every byte accounted for: the progress bar ends full
    [letter] = site.dead_letters.list_dead_letters()
    assert letter.source == "f.jsonl:1"
    assert len(letter.payload) <= MAX_PAYLOAD_BYTES + 1  # memory bounded: the rest was skipped
