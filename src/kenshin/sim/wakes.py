"""When a unit wakes to publish, and which messages each wake takes.

A message is due at the time of its latest reading, and never before a message that came
before it: messages come in order of arrival, so a held-back or backlog message is due
when it arrives. A unit wakes every ``wake_s`` seconds, at a phase of its own so that
units do not all wake at once (its reporting offset, if it was given one), and takes
every message due since its last wake.
"""

from __future__ import annotations

import heapq
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from kenshin.sim.transmission import Message

_DAY = 86_400


@dataclass(frozen=True, slots=True)
class Wake:
    """A unit waking at ``at`` (simulated UTC epoch s) with the messages due by then."""

    at: int
    device: str
    messages: tuple[Message, ...]


def message_time(message: Message) -> int | None:
    """The time of the message's latest reading (UTC epoch s), else of its ``sent``. A
    reading dated more than a day after ``sent`` (a clock gone wrong) does not count."""
    sent_text = message.get("sent")
    sent = (
        int(datetime.fromisoformat(sent_text).timestamp()) if isinstance(sent_text, str) else None
    )
    times = [
        t
        for block in message.get("meters", ())
        for reading in block.get("readings", ())
        if (t := int(datetime.fromisoformat(reading["t"]).timestamp())) <= (sent or t) + _DAY
    ]
    return max(times) if times else sent


def next_wake(device: str, t: int, wake_s: int, offset_s: int | None = None) -> int:
    """The first wake of ``device`` at or after ``t``: every ``wake_s`` at its own phase,
    ``offset_s`` past the epoch's half hours if given."""
    own = zlib.crc32(device.encode()) if offset_s is None else offset_s
    phase = own % wake_s
    return phase - ((phase - t) // wake_s) * wake_s


def plan_wakes(
    messages: Iterable[Message], wake_s: int, offsets: Callable[[str], int] | None = None
) -> Iterator[Wake]:
    """The units' wakes in time order (ties by device), each with the messages due for it;
    ``offsets`` gives units their reporting offsets (None: none)."""
    due: dict[str, list[Message]] = {}
    heap: list[tuple[int, str]] = []
    clock = -(2**62)
    for message in messages:
        t = message_time(message)
        clock = clock if t is None else max(clock, t)
        while heap and heap[0][0] < clock:  # a message due later never joins an earlier wake
            at, device = heapq.heappop(heap)
            yield Wake(at, device, tuple(due.pop(device)))
        device = str(message["device"])
        if device in due:
            due[device].append(message)
        else:
            due[device] = [message]
            offset = None if offsets is None else offsets(device)
            heapq.heappush(heap, (next_wake(device, clock, wake_s, offset), device))
    while heap:
        at, device = heapq.heappop(heap)
        yield Wake(at, device, tuple(due.pop(device)))
