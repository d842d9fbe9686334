"""What the processes kenshin starts for its work have in common (the endpoint's, the
export's, the import's): how many cores there are, how a worker starts, and how a pool
of workers is stopped."""

from __future__ import annotations

import os
import signal
from concurrent.futures import ProcessPoolExecutor

NICENESS = 5  # how much lower a worker's priority is than its starter's


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1


def quiet_worker() -> None:
    """A worker's start: a lower priority than the process that started it, and Ctrl-C
    left to that process, which stops its workers."""
    os.nice(NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_pool(pool: ProcessPoolExecutor, *, ended: bool) -> None:
    """Shut the pool down; if its work did not end (an error, Ctrl-C), its workers are
    stopped first instead of waited for."""
    if not ended:  # the workers are known to the pool only until it is shut down
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
