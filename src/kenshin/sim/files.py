"""Write a simulated fleet to files: its messages, the ground truth, and the device-meter map.

For an output path ``fleet.jsonl`` it writes three files side by side:

- ``fleet.jsonl``: one JSON v1 readings message per line (compact JSON), in order of
  arrival at the server, with the faults asked for applied (a duplicated delivery is
  two identical lines);
- ``fleet.truth.csv``: ``meter,slot_start,fwd_mwh,rev_mwh``, the exact energy of every
  30-minute slot of every meter (slot start in UTC, e.g. ``2026-11-25T15:00:00Z``),
  meter by meter in time order;
- ``fleet.devices.csv``: ``device,meter``, every device and each meter it reports.

``read_messages`` and ``read_devices`` read the messages and devices files back.

Messages are written as they are generated, with a bounded number held back to put them
in order of arrival, so memory stays flat however large the fleet. Each file is written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from kenshin.domain.slots import iso_utc
from kenshin.sim.fleet import FleetSpec, fleet_meters, fleet_truth
from kenshin.sim.transmission import Message, fleet_lines

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 1_000


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    """What a simulation wrote: counts (duplicates included) and the three files."""

    devices: int
    meters: int
    messages: int
    readings: int
    messages_path: Path
    truth_path: Path
    devices_path: Path

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        """The messages, truth and devices files, in that order."""
        return self.messages_path, self.truth_path, self.devices_path


def simulation_paths(out: Path) -> tuple[Path, Path, Path]:
    """The messages, truth and devices files written for output path ``out``."""
    return out, out.with_name(f"{out.stem}.truth.csv"), out.with_name(f"{out.stem}.devices.csv")


def write_simulation(
    spec: FleetSpec, out: Path, progress: Callable[[int], None] | None = None
) -> SimulationSummary:
    """Simulate ``spec`` and write its messages, truth and device map; see the module doc."""
    messages_path, truth_path, devices_path = simulation_paths(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    messages, readings = _write_messages(spec, messages_path, progress or _ignore)
    _write_truth(spec, truth_path)
    meters = _write_devices(spec, devices_path)
    logger.info(
        "simulated %d devices, %d meters: %d messages, %d readings in %s",
        spec.devices,
        meters,
        messages,
        readings,
        messages_path,
    )
    return SimulationSummary(
        spec.devices, meters, messages, readings, messages_path, truth_path, devices_path
    )


def _ignore(_: int) -> None:
    return None


@contextmanager
def _atomic(path: Path) -> Iterator[TextIO]:
    """A text file written under a temporary name and renamed over ``path`` when complete."""
    temporary = path.with_name(f".{path.name}.part")
    try:
        with temporary.open("w", encoding="utf-8", newline="\n") as stream:
            yield stream
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _write_devices(spec: FleetSpec, path: Path) -> int:
    count = 0
    with _atomic(path) as stream:
        stream.write("device,meter\n")
        for meter in fleet_meters(spec):
            stream.write(f"{meter.device},{meter.id}\n")
            count += 1
    return count


def _write_truth(spec: FleetSpec, path: Path) -> None:
    stamps: dict[int, str] = {}
    with _atomic(path) as stream:
        stream.write("meter,slot_start,fwd_mwh,rev_mwh\n")
        for slot in fleet_truth(spec):
            stamp = stamps.get(slot.start)
            if stamp is None:
                stamp = stamps[slot.start] = iso_utc(slot.start)
            stream.write(f"{slot.meter},{stamp},{slot.fwd_mwh},{slot.rev_mwh}\n")


def _write_messages(
    spec: FleetSpec, path: Path, progress: Callable[[int], None]
) -> tuple[int, int]:
    messages = readings = 0
    with _atomic(path) as stream:
        for line, count in fleet_lines(spec):
            stream.write(line)
            stream.write("\n")
            messages += 1
            readings += count
            if messages % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
    if messages % PROGRESS_EVERY:
        progress(messages % PROGRESS_EVERY)
    return messages, readings


def read_messages(path: Path) -> Iterator[Message]:
    """The messages of a messages file, one per line, in order."""
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def read_devices(path: Path) -> list[str]:
    """The devices of a devices file, each once, in order."""
    with path.open(encoding="utf-8") as lines:
        rows = (line.split(",", 1)[0].strip() for line in lines)
        return list(dict.fromkeys(row for row in rows if row and row != "device"))
