"""Commands to units sent through whatever reaches them: the MQTT broker of a cluster
(its leading worker sends them as they are queued) or AWS IoT Core (the export function
sends them after each round).

A command goes to its unit as a retained QoS 1 message on ``cmd/kenshin/{id}/{name}``
that expires after ``COMMAND_EXPIRY_S``: a unit that connects later gets the newest of
each name when it subscribes. The broker's (or IoT Core's) acknowledgement is the last
kenshin sees of it: the command counts as acknowledged then. Gap recovery asks again if
the readings do not come.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from kenshin.domain.commands import command_topic
from kenshin.domain.devices import Command
from kenshin.ports import CommandQueue
from kenshin.ports.broker import CommandLink

log = logging.getLogger(__name__)

COMMAND_EXPIRY_S = 24 * 3600
_POLL_LIMIT = 1000


@dataclass
class CommandSender:
    """Sends the commands not acknowledged yet through ``link``, oldest first."""

    commands: CommandQueue
    link: CommandLink
    clock: Callable[[], float] = time.time
    _last: int = 0  # the highest command id read

    def send_new(self, _now: int = 0) -> int:
        """Send the commands added since the last call (the first: all pending); how
        many the link took. One it did not take is tried again at the next call."""
        taken = 0
        while True:
            batch = self.commands.commands_after(self._last, _POLL_LIMIT)
            for command in batch:
                if not self._send(command):
                    return taken  # the link is away: from this one again next time
                self._last = command.id
                taken += 1
            if len(batch) < _POLL_LIMIT:
                return taken

    def _send(self, command: Command) -> bool:
        topic = command_topic(command.device, command.name)
        if not self.link.publish(topic, command.payload, retain=True, expiry_s=COMMAND_EXPIRY_S):
            return False
        now = int(self.clock())
        self.commands.command_sent(command.id, now)
        self.commands.acknowledge_command(command.id, now)
        log.info("command %d (%s) went out on %s", command.id, command.name, topic)
        return True
