"""Run ``python -m MODULE ARGS`` and measure where its CPU time goes, thread by thread.

SIGUSR1 marks the start and SIGUSR2 the end of what is measured: at the end, each
thread's CPU seconds (user + system, /proc) in between go to OUT.json, by thread name.
With ``--cprofile``, every thread also runs under cProfile from its start, and each
one's statistics go to OUT.<n>-<thread>.prof when the process ends.

    python bench/thread_profile.py OUT [--cprofile] -m kenshin --config FILE worker
"""

from __future__ import annotations

import atexit
import cProfile
import json
import os
import re
import runpy
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

TICKS = os.sysconf("SC_CLK_TCK")


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process, by name (and native id)."""
    found = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except (FileNotFoundError, TypeError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        found[f"{thread.name} [{thread.native_id}]"] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


class Marks:
    """The per-thread CPU at the start mark; the differences written at the end mark."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.start: dict[str, float] = {}

    def mark_start(self, _signum: int, _frame: FrameType | None) -> None:
        self.start = thread_cpu()

    def mark_end(self, _signum: int, _frame: FrameType | None) -> None:
        now = thread_cpu()
        used = {name: round(s - self.start.get(name, 0.0), 2) for name, s in now.items()}
        ordered = dict(sorted(used.items(), key=lambda item: -item[1]))
        self.out.with_suffix(".json").write_text(json.dumps(ordered, indent=1) + "\n")


def profile_threads(out: Path) -> None:
    """Every thread started from now on (and this one) under a cProfile of its own."""
    profiles: list[tuple[str, cProfile.Profile]] = []
    lock = threading.Lock()

    def start(_frame: FrameType, _event: str, _arg: object) -> None:
        profile = cProfile.Profile()
        with lock:
            profiles.append((threading.current_thread().name, profile))
        profile.enable()  # replaces this hook in the thread

    main = cProfile.Profile()

    def dump() -> None:
        main.disable()
        with lock:
            for n, (name, profile) in enumerate(profiles):
                profile.dump_stats(f"{out}.{n}-{re.sub(r'[^A-Za-z0-9_-]', '_', name)}.prof")

    threading.setprofile(start)
    atexit.register(dump)
    profiles.append(("main", main))
    main.enable()


def main() -> None:
    """Run the module named after -m with the arguments after it."""
    out, rest = Path(sys.argv[1]), sys.argv[2:]
    marks = Marks(out)
    signal.signal(signal.SIGUSR1, marks.mark_start)
    signal.signal(signal.SIGUSR2, marks.mark_end)
    if rest[:1] == ["--cprofile"]:
        rest = rest[1:]
        profile_threads(out)
    if rest[:1] != ["-m"] or len(rest) < 2:
        raise SystemExit(__doc__)
    sys.argv = [rest[1], *rest[2:]]
    runpy.run_module(rest[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
