"""The import of one file on every core: the file cut into parts at line ends, each part
imported by a worker process of its own, on its own connection to the store. Part of
bootstrap: the workers open the site of the settings.

Each message keeps the name it has in one process (``{file}:{line}``: a part knows the
number of its first line), and what the parts did adds up to one summary. Ingest writes
one batch at a time whichever process it is in (the store's write lock), and new meters
under the lock of meters' changes, which spans processes: a worker decodes and checks
its next batch while another's is written. Workers are spawned (not forked) and end
with the import; a worker that fails, or Ctrl-C, stops them all, and what was stored
stays (importing the file again stores the rest: what is stored already counts as
duplicates).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import pairwise
from multiprocessing import get_context
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import BinaryIO

from kenshin.bootstrap import App, open_site
from kenshin.config import Settings
from kenshin.entrypoints import logs
from kenshin.errors import KenshinError
from kenshin.services.imports import import_lines
from kenshin.services.incoming import IngestSummary
from kenshin.worker_processes import cores, quiet_worker, stop_pool

MIN_PART_BYTES = 8 * 2**20  # smaller files are imported in one process: starting one costs more
_REPORT_BYTES = 2**20  # a worker tells its progress every MiB
_SCAN = 2**22  # bytes read at once counting lines


@dataclass(frozen=True)
class Part:
    """Bytes ``start`` to ``end`` of a file, at line ends; its first line's number."""

    start: int
    end: int
    first_line: int


def processes_for(settings: Settings, asked: int, size: int) -> int:
    """How many processes import a file of ``size`` bytes: ``asked`` (0: one per core),
    at most one per ``MIN_PART_BYTES``; one for the memory store, which is the process's
    own."""
    if settings.store.kind == "memory":
        return 1
    return max(1, min(asked or cores(), size // MIN_PART_BYTES))


def parts(path: Path, count: int) -> list[Part]:
    """``path`` cut into ``count`` parts of about as many bytes, each ending at a line end."""
    size = path.stat().st_size
    bounds, lines = [0], [1]
    with path.open("rb") as stream:
        for n in range(1, count):
            bounds.append(_line_start(stream, max(size * n // count, bounds[-1]), size))
        bounds.append(size)
        for lo, hi in pairwise(bounds[:-1]):
            lines.append(lines[-1] + _newlines(stream, lo, hi))
    return [Part(lo, hi, first) for (lo, hi), first in zip(pairwise(bounds), lines, strict=True)]


def _line_start(stream: BinaryIO, at: int, size: int) -> int:
    """The start of the first line at or after ``at`` (``size`` if none), read in chunks:
    a line may be longer than memory should hold."""
    if at == 0:
        return 0
    stream.seek(at - 1)
    while chunk := stream.read(_SCAN):
        found = chunk.find(b"\n")
        if found >= 0:
            return at + found
        at += len(chunk)
    return size


def _newlines(stream: BinaryIO, start: int, end: int) -> int:
    stream.seek(start)
    found = 0
    while start < end:
        chunk = stream.read(min(_SCAN, end - start))
        if not chunk:
            break
        found += chunk.count(b"\n")
        start += len(chunk)
    return found


def import_file(
    app: App,
    path: Path,
    processes: int,
    *,
    batch_size: int,
    progress: Callable[[int], None],
) -> IngestSummary:
    """Import ``path`` in ``processes`` worker processes; ``progress`` is told the bytes
    the parts took as the workers count them. The first error (or Ctrl-C) stops every
    worker; what they stored stays."""
    context = get_context("spawn")
    consumed = context.Value("q", 0)  # bytes the workers took, all told
    setup = (app.settings.model_dump_json(), str(app.data_dir), consumed)
    summary, told = IngestSummary(), 0
    pool = ProcessPoolExecutor(processes, mp_context=context, initializer=_start, initargs=setup)
    ended = False
    try:
        pending: set[Future[IngestSummary]] = {
            pool.submit(_import_part, str(path), part, path.name, batch_size)
            for part in parts(path, processes)
        }
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            now = consumed.value
            progress(now - told)
            told = now
            for future in done:
                summary.add(_result(future))  # a worker's error ends the import here
        ended = True
    finally:
        stop_pool(pool, ended=ended)
    return summary


def _result(future: Future[IngestSummary]) -> IngestSummary:
    """What a part did; a worker that died is a KenshinError saying what to do."""
    try:
        return future.result()
    except BrokenProcessPool as exc:
        raise KenshinError(
            f"an import process stopped before its part was done ({exc}): what was stored"
            " stays; importing the file again stores the rest (what is stored already"
            " counts as duplicates)"
        ) from exc


class _Bounded:
    """The next ``left`` bytes of a file, in lines."""

    def __init__(self, stream: BinaryIO, left: int) -> None:
        self._stream, self._left = stream, left

    def readline(self, size: int = -1, /) -> bytes:
        if self._left <= 0:
            return b""
        line = self._stream.readline(self._left if size < 0 else min(size, self._left))
        self._left -= len(line)
        return line


_worker: tuple[App, Synchronized[int]] | None = None


def _start(settings_json: str, data_dir: str, consumed: Synchronized[int]) -> None:
    """Open the site in this worker."""
    global _worker
    quiet_worker()
    settings = Settings.model_validate_json(settings_json)
    logs.configure(logging.getLevelName(settings.logging.level))
    _worker = (open_site(settings, Path(data_dir)), consumed)


def _import_part(path: str, part: Part, name: str, batch_size: int) -> IngestSummary:
    """Import one part of the file in this worker."""
    if _worker is None:
        raise RuntimeError("the import worker did not open its site")
    app, consumed = _worker
    held = [0]

    def tell(took: int) -> None:
        held[0] += took
        if held[0] >= _REPORT_BYTES:
            _count(consumed, held)

    with Path(path).open("rb") as stream:
        stream.seek(part.start)
        summary = import_lines(
            app.ingest(),
            _Bounded(stream, part.end - part.start),
            name,
            batch_size=batch_size,
            clock=time.time,
            progress=tell,
            first_line=part.first_line,
        )
    _count(consumed, held)
    return summary


def _count(consumed: Synchronized[int], held: list[int]) -> None:
    with consumed.get_lock():
        consumed.value += held[0]
    held[0] = 0
