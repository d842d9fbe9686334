"""What simulated units keep in their memory to answer the server's commands: the messages
the simulator made for each of them (a real unit keeps the readings it has read), and
the commands each has answered in this run.

``UnitMemory`` indexes a messages file (``kenshin.sim.files``) by unit: the byte offset of
each of its lines, 8 bytes a message, so that an answer reads back only the unit's own
lines. A ``resend`` command (``kenshin.domain.commands``) is answered with every message
of the unit holding a reading dated from its ``from`` to its ``to``, both included, as
it was first sent (same ``seq``, same ``sent``; readings outside the range come along,
and the server takes them as duplicates). A unit answers each command id once: a broker
keeps a command as a retained message, so the unit gets it again at every wake until it
expires. Other commands are taken and left unanswered.
"""

from __future__ import annotations

import json
import re
import threading
from array import array
from datetime import datetime
from pathlib import Path
from typing import Any

from kenshin.domain.commands import RESEND, resend_range

_DEVICE = re.compile(rb'"device":\s*"([^"\\]*)"')


class UnitMemory:
    """The units' messages in ``path`` (by unit, the offsets of their lines) and the
    commands each unit answered. Safe to share between threads, one unit per thread."""

    def __init__(self, path: Path, offsets: dict[str, array[int]]) -> None:
        self._path = path
        self._offsets = offsets
        self._answered: dict[str, set[int]] = {}
        self._lock = threading.Lock()
        self.answered = 0  # commands answered, all units together
        self.resent = 0  # messages sent again in those answers

    @classmethod
    def of_file(cls, path: Path) -> UnitMemory:
        """The memory of the units whose messages are in the messages file ``path``."""
        offsets: dict[str, array[int]] = {}
        offset = 0
        with path.open("rb") as lines:
            for line in lines:
                device = _device_of(line)
                if device is not None:
                    offsets.setdefault(device, array("q")).append(offset)
                offset += len(line)
        return cls(path, offsets)

    def answer(self, device: str, payload: bytes) -> list[str] | None:
        """The messages ``device`` sends again for the command ``payload``: those of its
        history its range asks for (maybe none); None when there is nothing to answer
        (not a resend the unit understands, or one it has answered already)."""
        asked = _resend(payload)
        if asked is None or asked[0] in self._answered.get(device, ()):
            return None
        _, start, end = asked
        found = []
        with self._path.open("rb") as lines:
            for offset in self._offsets.get(device, ()):
                lines.seek(offset)
                line = lines.readline().decode().strip()
                if _holds_reading(json.loads(line), start, end):
                    found.append(line)
        return found

    def remember(self, device: str, payload: bytes, resent: int) -> None:
        """``device`` has answered the command ``payload`` with ``resent`` messages, all
        acknowledged: it does not answer that command again."""
        asked = _resend(payload)
        if asked is None:
            return
        with self._lock:
            self._answered.setdefault(device, set()).add(asked[0])
            self.answered += 1
            self.resent += resent


def _device_of(line: bytes) -> str | None:
    """The device of a message line, None for a blank one."""
    found = _DEVICE.search(line)
    if found is not None:
        return found[1].decode()
    if not line.strip():
        return None
    return str(json.loads(line)["device"])  # written otherwise than the simulator does


def _resend(payload: bytes) -> tuple[int, int, int] | None:
    """The id, from and to (UTC epoch s) of a resend command, None for anything else."""
    asked = resend_range(payload)
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if asked is None or not isinstance(body, dict) or body.get("command") != RESEND:
        return None
    command_id = body.get("id")
    if not isinstance(command_id, int) or isinstance(command_id, bool):
        return None
    return command_id, *asked


def _holds_reading(message: dict[str, Any], start: int, end: int) -> bool:
    """Whether the message holds a reading dated from ``start`` to ``end`` (both included)."""
    return any(
        start <= datetime.fromisoformat(reading["t"]).timestamp() <= end
        for block in message.get("meters", ())
        for reading in block.get("readings", ())
    )
