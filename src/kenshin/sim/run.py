"""A written simulation published live: its messages file replayed by the units of a
folder of certificates (``kenshin devices add --out``) to a device endpoint, the units
answering their commands from that file when asked to."""

from __future__ import annotations

import threading
from collections.abc import Callable

from kenshin.sim.files import SimulationSummary, read_devices, read_messages
from kenshin.sim.fleet import FleetSpec, fleet_calendar
from kenshin.sim.memory import UnitMemory
from kenshin.sim.mqtt_unit import PahoUnits
from kenshin.sim.publish import Progress, PublishSummary, Replay, Target, publish_fleet


def publish_span(spec: FleetSpec, replay: Replay) -> tuple[int, int]:
    """The simulated instants (UTC epoch s) publishing ``spec`` goes from and to: the run's
    first boundary, and a wake after its last; within the replay's window."""
    boundaries = fleet_calendar(spec).boundaries
    first, last = boundaries[0], boundaries[-1] + replay.wake_minutes * 60
    if replay.since is not None:
        first = min(max(first, replay.since), last)
    if replay.until is not None:
        last = max(min(last, replay.until), first)
    return first, last


def publish_written(
    simulation: SimulationSummary,
    target: Target,
    replay: Replay,
    progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
) -> PublishSummary:
    """Publish a written simulation's messages to ``target``, each unit with its own
    certificate of ``target.certs``; ``progress`` hears how far it is, ``stop`` ends it.
    With ``replay.answer_commands``, the units answer their commands from the messages
    file (kenshin.sim.memory)."""
    memory = UnitMemory.of_file(simulation.messages_path) if replay.answer_commands else None
    summary = publish_fleet(
        read_messages(simulation.messages_path),
        PahoUnits(target.host, target.port, target.certs, memory),
        replay,
        devices=read_devices(simulation.devices_path),
        progress=progress,
        stop=stop,
    )
    if memory is not None:
        summary.commands_answered, summary.messages_resent = memory.answered, memory.resent
    return summary


def published_line(summary: PublishSummary, target: Target) -> str:
    """One line saying what publishing to ``target`` did."""
    line = (
        f"published to {target.host} port {target.port} in {summary.elapsed_s:.1f} s:"
        f" {summary.acknowledged} of {summary.messages} messages acknowledged over"
        f" {summary.connections} connections; {summary.failed_wakes} wakes failed and were"
        f" retried; {summary.failed} messages not acknowledged"
    )
    if summary.commands_answered is None:
        return line
    answered, resent = summary.commands_answered, summary.messages_resent
    return f"{line}; {answered} commands answered with {resent} messages sent again"
