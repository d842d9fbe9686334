"""Decoding JSON readings messages: microseconds per message and per reading.

The messages are a simulated fleet's (``kenshin.sim``, every fault of transmission and
of registers), in order of arrival, with a share of broken ones mixed in (bad JSON,
wrong types, out-of-range registers, repeated keys, unknown fields...: each becomes a
dead letter). Status messages are not decoded by the endpoint (it keeps the latest one
of each unit as bytes), so they cost nothing here.

Each decoder named decodes the whole batch ROUNDS times, the decoders taking turns, and
the best round of each counts; with two, their ratio is printed too. ``--profile``
adds cProfile's top 15 functions (by own time) of one more round of each.

    python bench/bench_decode.py [--messages 5000] [--rounds 5] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
from collections.abc import Callable
from datetime import date

from kenshin.domain.model import DeadLetter, DecodedMessage
from kenshin.domain.readings_json import decode_readings
from kenshin.services.readings_fast import decode_readings_fast
from kenshin.sim.faults import FAULTS
from kenshin.sim.fleet import FleetSpec
from kenshin.sim.transmission import fleet_lines

Decoder = Callable[..., DecodedMessage | DeadLetter]
DECODERS: dict[str, Decoder] = {"reference": decode_readings, "msgspec": decode_readings_fast}
BAD_EVERY = 20  # one message in this many is broken


def _broken(line: str, n: int) -> bytes:
    """One of several ways a unit or a network breaks a message, picked by ``n``."""
    doc = json.loads(line)
    block = doc["meters"][0]
    breaks: list[Callable[[], object]] = [
        lambda: line[: len(line) // 2],
        lambda: block["readings"][0].update(fwd=-1),
        lambda: block["readings"][0].update(fwd=1.5),
        lambda: block.update(unit="1kWh!"),
        lambda: doc.update(extra=1),
        lambda: block["readings"][0].update(t="2026-11-26T12:30:00"),
        lambda: doc.update(v=2),
    ]
    pick = n % (len(breaks) + 1)
    if pick == len(breaks):  # a repeated key, which only a text can hold
        return line.replace('"seq":', '"seq":1,"seq":', 1).encode()
    made = breaks[pick]()
    return made.encode() if isinstance(made, str) else json.dumps(doc).encode()


def messages(count: int) -> tuple[list[bytes], int]:
    """``count`` payloads of a simulated fleet, every BAD_EVERY-th broken, and the
    number of readings in the good ones."""
    spec = FleetSpec(200, 3, date(2026, 11, 2), seed=7, faults=frozenset(FAULTS))
    payloads, readings = [], 0
    for n, (line, held) in enumerate(fleet_lines(spec)):
        if n == count:
            break
        if n % BAD_EVERY == BAD_EVERY - 1:
            payloads.append(_broken(line, n // BAD_EVERY))
        else:
            payloads.append(line.encode())
            readings += held
    return payloads, readings


def one_round(decode: Decoder, payloads: list[bytes]) -> float:
    start = time.perf_counter()
    for payload in payloads:
        decode(payload, source="bench", received_at=0)
    return time.perf_counter() - start


def profile(name: str, decode: Decoder, payloads: list[bytes]) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(one_round, decode, payloads)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    print(f"\n== cProfile, {name}: top 15 by own time ==")
    print("\n".join(line for line in out.getvalue().splitlines()[4:] if line.strip()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--decoders", default=",".join(DECODERS), help="of: reference, msgspec")
    parser.add_argument("--profile", action="store_true", help="cProfile's top 15 of each")
    args = parser.parse_args()
    names = args.decoders.split(",")
    payloads, readings = messages(args.messages)
    for payload in payloads:  # the decoders agree on every message
        results = {decode_readings(payload, source="bench", received_at=0)}
        results |= {DECODERS[n](payload, source="bench", received_at=0) for n in names}
        assert len(results) == 1, payload
    best = dict.fromkeys(names, float("inf"))
    for _ in range(args.rounds):
        for name in names:
            best[name] = min(best[name], one_round(DECODERS[name], payloads))
    bad = len(payloads) // BAD_EVERY
    print(f"{len(payloads)} messages ({bad} broken), {readings} readings, best of {args.rounds}")
    for name in names:
        per_message = best[name] / len(payloads) * 1e6
        per_reading = best[name] / readings * 1e6
        print(f"{name:>10}: {per_message:7.2f} us/message {per_reading:6.2f} us/reading")
    if len(names) == 2:
        print(f"ratio {names[0]}/{names[1]}: {best[names[0]] / best[names[1]]:.2f}")
    if args.profile:
        for name in names:
            profile(name, DECODERS[name], payloads)


if __name__ == "__main__":
    main()
