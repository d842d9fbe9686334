"""Where the device endpoint's time goes under sustained load, process by process.

Starts ``kenshin serve`` as ``bench_endpoint.py`` does, with each ``mqtt.processes``
given, drives it with the same sustained load (UNITS units publishing at QoS 1, WINDOW
unacknowledged each, a PUBACK after each commit), and samples every process of the
server with py-spy (``pip install py-spy``; it reads the processes from outside, as
root or with ptrace allowed). For each process: the CPU it used (/proc), and its
samples by what the sampled thread was running at the time (its own frame's module):
TLS, MQTT, the link between processes, decoding and checking, the store, the event loop.
A thread waiting for the interpreter lock is sampled where it waits: in a process
with two busy threads (the server's loop and its commit thread) the shares are of
time, not of CPU.

    python bench/profile_endpoint.py [--processes 1,2] [--seconds 20] [--units 1000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench_endpoint import TICKS, make_site, shares, start_kenshin, tree_of
from endpoint_load import Job, run

RATE = 100  # samples a second

KINDS = [  # (what, where its frames are), the first that matches the sampled frame
    ("link between processes", ("mqtt/link.py", "mqtt/front.py", "mqtt/fronts.py")),
    ("TLS (OpenSSL, TlsStream)", ("(ssl.py:", "mqtt/tls.py", "mqtt/listener.py")),
    ("MQTT (codec, session, acks)", ("entrypoints/mqtt/",)),
    ("decoding and checking", ("readings_fast.py", "readings_json.py", "services/ingest.py")),
    ("store (SQLite)", ("adapters/sqlite", "sqlite3/")),
    ("commit queue", ("services/batching.py",)),
    ("event loop", ("asyncio/", "selectors.py")),
    ("threads", ("concurrent/futures", "threading.py")),
    ("making objects (dataclasses' __init__)", ("__create_fn__",)),
]


def kind_of(frame: str) -> str:
    """What a sampled frame (``function (path:line)``) was doing."""
    for kind, places in KINDS:
        if any(place in frame for place in places):
            return kind
    return "other"


def summarize(path: Path) -> tuple[int, Counter[str]]:
    """The samples in py-spy's raw output at ``path``, and how many of each kind."""
    kinds: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        kinds[kind_of(stack.split(";")[-1])] += int(count)
        total += int(count)
    return total, kinds


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def profile(args: argparse.Namespace, folder: Path, devices: list[str], processes: int) -> None:
    """One server with ``processes``, profiled under the sustained load."""
    server, port = start_kenshin(folder, processes)
    out = Path(args.out)
    try:
        time.sleep(2)
        pids = tree_of(server.pid)
        names = ["server"] + [f"endpoint process {n}" for n in range(1, len(pids))]
        spies = []
        for pid, name in zip(pids, names, strict=True):
            raw = out / f"processes-{processes}-{name.replace(' ', '-')}.txt"
            command = ["py-spy", "record", "-r", str(RATE), "-d", str(int(args.seconds))]
            command += ["-p", str(pid), "-f", "raw", "-o", str(raw), "--nonblocking"]
            spies.append((subprocess.Popen(command, stdout=subprocess.DEVNULL), raw))
        before = {pid: cpu(pid) for pid in pids}
        jobs = [
            Job("sustained", port, folder / "certs", part, args.seconds, args.window)
            for part in shares(devices, args.clients)
        ]
        counts, _, generator = run(jobs, lambda: 0.0, lambda _: time.sleep(args.seconds))
        used = {pid: cpu(pid) - before[pid] for pid in pids}
        readings = counts["sustained"]
        print(
            f"mqtt.processes = {processes}: {readings / args.seconds:,.0f} durable readings/s,"
            f" server {sum(used.values()) / args.seconds:.2f} cores"
            f" ({1e6 * sum(used.values()) / readings:.0f} µs a reading),"
            f" generator {generator / args.seconds:.2f} cores"
        )
        for (spy, raw), pid, name in zip(spies, pids, names, strict=True):
            spy.wait()
            total, kinds = summarize(raw)
            print(f"  {name}: {used[pid] / args.seconds:.2f} cores, {total} samples")
            for kind, count in kinds.most_common():
                print(f"    {100 * count / max(total, 1):5.1f} %  {kind}")
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    """Profile each configuration in turn and print the summaries."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2", help="mqtt.processes, comma-separated")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--out", default=".", help="folder for py-spy's raw samples")
    args = parser.parse_args()
    if shutil.which("py-spy") is None:
        sys.exit("py-spy is needed: pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        for run_number, processes in enumerate(int(n) for n in args.processes.split(",")):
            folder = Path(tmp) / f"site-{run_number}"  # a new database each
            profile(args, folder, make_site(folder, args.units), processes)


if __name__ == "__main__":
    main()
