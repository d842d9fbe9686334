"""Client-side CPU of the DynamoDB store: the export's read of a day, and a batch written.

Nothing timed goes to AWS, moto or a network: DynamoDB's answers are made beforehand, as
it sends them (JSON; the packed readings ``d`` in base64).

1. Parse: the BatchGetItem answers of a Tokyo day of METERS meters (two UTC days each,
   100 keys an answer, as ``boundary_registers`` asks) through botocore's parser, then
   ``fill_registers``; SAMPLE of them again, and in layouts of one attribute a reading (a
   list of its 4 numbers, a map of them, its forward register alone) decoded in Python.
2. Client: ``boundary_registers`` of every meter, 20,000 at a time as the export reads,
   through a boto3 client answered in botocore's ``before-send`` event instead of over
   HTTP; then the same BatchGetItems one after another in one thread.
3. Write: BATCH readings of BATCH meters, one each (the ingest function's batch): what
   ``add_readings`` computes (settling, packing), then ``add_readings`` through that client.

    python bench/bench_dynamo.py [--meters N] [--sample S] [--batch B] [--writes W] [--repeat R]
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import platform
import statistics
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3  # type: ignore[import-untyped]
import botocore.session  # type: ignore[import-untyped]
import numpy as np
from botocore.awsrequest import AWSPreparedRequest, AWSResponse  # type: ignore[import-untyped]

from kenshin.adapters.dynamo_day_items import _RECORDS as RECORDS  # the items' records
from kenshin.adapters.dynamo_day_items import DAY_SECONDS, days_of, fill_registers
from kenshin.adapters.dynamo_readings import DynamoReadings
from kenshin.adapters.dynamo_tables import DynamoTables, Item
from kenshin.domain.intervals import NO_REGISTER, Registers
from kenshin.domain.model import Reading, Watermark
from kenshin.domain.readings import check_registers
from kenshin.domain.slots import SLOT_SECONDS, day_slots, zone
from kenshin.services.aggregate import AGGREGATE_CHUNK

DAY = day_slots(date(2026, 11, 26), zone("Asia/Tokyo"))
UTC_DAYS = range(DAY.start // DAY_SECONDS, DAY.end // DAY_SECONDS + 1)
TABLE = "bench-readings"
STORED_BY = 7  # the batch that stored every reading read; reads are as of batch 9
Grids = tuple[Registers, ...]  # forward registers, and reverse ones where kept
# botocore's parser of DynamoDB's answers, as a client makes it, and BatchGetItem's shape.
_SESSION = botocore.session.get_session()
PARSER = _SESSION.get_component("response_parser_factory").create_parser("json")
BATCH_GET = _SESSION.get_service_model("dynamodb").operation_model("BatchGetItem").output_shape


def meter_id(n: int) -> str:
    return f"M-{n:07d}"


def records(meters: Sequence[int], days: Sequence[int], per_day: int = 48) -> np.ndarray:
    """The first ``per_day`` half-hourly readings of each meter's UTC days, in that order
    (one row an item): every tenth meter with a reverse register."""
    m = np.repeat(np.asarray(meters, np.int64), len(days))[:, None]
    d = np.tile(np.asarray(days, np.int64) - UTC_DAYS[0], len(meters))[:, None]
    j = np.arange(per_day, dtype=np.int64)[None, :]
    out = np.zeros((len(m), per_day), RECORDS)
    out["second"] = j * SLOT_SECONDS
    out["fwd"] = 100_000 + m % 997 + 3 * (j + 48 * d)
    out["rev"] = np.where(m % 10 == 0, j + 48 * d, NO_REGISTER)
    out["batch"], out["lag"] = STORED_BY, 4 + m % 30
    return out


def wire_item(meter: int, day: int, rows: np.ndarray, layout: str) -> dict[str, Any]:
    """An item of the readings table as DynamoDB sends it in JSON; but for ``packed``, a
    reading an attribute: a list of its numbers, a map of them, or its forward register."""
    item: dict[str, Any] = {"pk": {"S": meter_id(meter)}, "sk": {"N": str(day)}, "v": {"N": "1"}}
    if layout == "packed":
        item["d"] = {"B": base64.b64encode(rows.tobytes()).decode()}
    for row in rows if layout != "packed" else ():
        n = [{"N": str(int(row[name]))} for name in ("fwd", "rev", "batch", "lag")]
        value = {"L": n} if layout == "list" else {"M": dict(zip("frbl", n, strict=True))}
        item[f"r{int(row['second'])}"] = n[0] if layout == "number" else value
    return item


def answer_keys(meters: int) -> list[list[tuple[int, int]]]:
    """The keys of each BatchGetItem of the day's read: chunk by chunk, 100 an answer, as
    ``boundary_registers`` asks."""
    found = []
    for lo in range(0, meters, AGGREGATE_CHUNK):
        keys = [(m, d) for m in range(lo, min(lo + AGGREGATE_CHUNK, meters)) for d in UTC_DAYS]
        found += [keys[first : first + 100] for first in range(0, len(keys), 100)]
    return found


def answers(keys: Sequence[list[tuple[int, int]]], layout: str = "packed") -> list[bytes]:
    """The BatchGetItem answers to ``keys`` (the items of each), as DynamoDB sends them."""
    bodies = []
    for part in keys:
        grid = records(list(dict.fromkeys(m for m, _ in part)), UTC_DAYS)
        items = [wire_item(m, d, grid[i], layout) for i, (m, d) in enumerate(part)]
        bodies.append(body_of(items))
    return bodies


def body_of(items: list[dict[str, Any]]) -> bytes:
    """A BatchGetItem answer of ``items``, all keys processed, as DynamoDB sends it."""
    body = {"Responses": {TABLE: items}, "UnprocessedKeys": {}}
    return json.dumps(body, separators=(",", ":")).encode()


def expected(meters: int) -> Grids:
    """The registers every meter should have at the day's boundaries."""
    grid = records(range(meters), UTC_DAYS).reshape(meters, -1)
    since = np.repeat(np.asarray(UTC_DAYS) * DAY_SECONDS - DAY.start, 48) + grid["second"][0]
    wanted = (since >= 0) & (since <= DAY.count * SLOT_SECONDS)
    return grid["fwd"][:, wanted].copy(), grid["rev"][:, wanted].copy()


DECODED: dict[str, Callable[[dict[str, Any]], list[int]]] = {  # fwd, rev, batch
    "list": lambda value: [int(number["N"]) for number in value["L"][:3]],
    "map": lambda value: [int(value["M"][name]["N"]) for name in "frb"],
    "number": lambda value: [int(value["N"]), NO_REGISTER, 0],
}


def fill_attributes(grids: Grids, items: Sequence[Item], rows: dict[str, int], layout: str) -> None:
    """What ``fill_registers`` does, for items of one attribute per reading (as of batch 9)."""
    found, decoded = [], DECODED[layout]
    for item in items:
        row = rows[item["pk"]["S"]]
        offset = int(item["sk"]["N"]) * DAY_SECONDS - DAY.start
        for name, value in item.items():
            if name[0] != "r":
                continue
            column, rest = divmod(offset + int(name[1:]), SLOT_SECONDS)
            if rest or not 0 <= column <= DAY.count:
                continue
            fwd, rev, batch = decoded(value)
            if batch <= 9:
                found.append((row, column, fwd, rev))
    at, columns, fwds, revs = zip(*found, strict=True)
    grids[0][at, columns] = fwds
    grids[1][at, columns] = revs


def parse_pass(bodies: Sequence[bytes], meters: int, layout: str) -> tuple[list[float], Grids]:
    """Parse and decode each answer: CPU seconds of each (parse, decode, ...), the grids."""
    rows = {meter_id(m): m for m in range(meters)}
    fwd = np.full((meters, DAY.count + 1), NO_REGISTER, np.uint32)
    grids, spent = (fwd, fwd.copy()), []
    gc.collect()  # not the garbage of making the answers
    for body in bodies:
        t0 = time.process_time()
        parsed = PARSER.parse({"headers": {}, "status_code": 200, "body": body}, BATCH_GET)
        t1 = time.process_time()
        items = parsed["Responses"][TABLE]
        if layout == "packed":
            fill_registers(grids, items, rows, (DAY.start, DAY.count), 9)
        else:
            fill_attributes(grids, items, rows, layout)
        spent += [t1 - t0, time.process_time() - t1]
    return spent, grids


def report_parse(label: str, spent: list[float]) -> float:
    """Print a pass's figures; its CPU seconds an answer (parse and decode)."""
    parse, decode = spent[::2], spent[1::2]
    each, median = sum(spent) / len(parse), statistics.median
    print(
        f"  {label:<18} {len(parse):>5} answers, {sum(spent):6.2f} s: an answer"
        f" {1000 * sum(parse) / len(parse):6.2f} ms parse + {1000 * sum(decode) / len(parse):5.2f}"
        f" ms decode = {1000 * each:6.2f} ms (medians {1000 * median(parse):.2f} +"
        f" {1000 * median(decode):.2f})"
    )
    return each


def check(grids: Grids, want: Grids, rows: Sequence[int] | slice, what: str) -> None:
    """SystemExit unless ``grids`` hold the registers stored, in ``rows``."""
    for got, should in zip(grids, want, strict=True):
        if not np.array_equal(got[rows], should[rows]):
            raise SystemExit(f"{what}: registers differ from those stored")


def bench_parse(args: argparse.Namespace, bodies: list[bytes], want: Grids) -> None:
    """Part 1: the whole day packed, then the sample in each layout; the ratios."""
    keys = answer_keys(args.meters)
    pick = max(1, len(keys) // args.sample)
    sampled = {layout: answers(keys[::pick], layout) for layout in DECODED}
    rows = sorted({m for part in keys[::pick] for m, _ in part})
    print(f"1. parse and decode: {len(bodies):,} answers, every {pick}th in each layout")
    for round_ in range(args.repeat):
        print(f" round {round_ + 1}, load {os.getloadavg()[0]:.2f}")
        spent, grids = parse_pass(bodies, args.meters, "packed")
        check(grids, want, slice(None), "packed")
        report_parse("packed, whole day", spent)
        base = report_parse("packed, sample", parse_pass(bodies[::pick], args.meters, "packed")[0])
        for layout in DECODED:
            spent, grids = parse_pass(sampled[layout], args.meters, layout)
            kept = 1 if layout == "number" else 2  # registers the layout holds
            check(grids[:kept], want[:kept], rows, layout)
            each = report_parse(f"{layout}, sample", spent)
            whole = each * len(bodies)
            print(f"  {'':<18} {each / base:.1f} x packed; the whole day at that {whole:.1f} s")


class Answers:
    """DynamoDB's answers given to a boto3 client's requests instead of sending them
    (botocore's ``before-send`` event): BatchGetItems the bodies of ``gets`` in turn,
    counters the next number, other writes success."""

    def __init__(self) -> None:
        self.gets: list[tuple[bytes, str]] = []  # body, its CRC32 (DynamoDB sends one)
        self.served = 0
        self.number = 100
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, request: AWSPreparedRequest, **_: object) -> AWSResponse:
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
        sent = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
            if operation == "BatchGetItem":
                body, crc = self.gets[self.served % len(self.gets)]
                self.served += 1
            elif operation == "UpdateItem" and b"UPDATED_NEW" in sent:
                self.number += 1
                body, crc = b'{"Attributes":{"n":{"N":"%d"}}}' % self.number, ""
            elif operation in ("UpdateItem", "PutItem"):
                body, crc = b"{}", ""
            else:
                raise SystemExit(f"no answer to {operation}")
        crc = crc or str(zlib.crc32(body))
        headers = {"x-amz-crc32": crc, "content-type": "application/x-amz-json-1.0"}
        raw = SimpleNamespace(stream=lambda **_: iter([body]))  # as botocore reads it
        return AWSResponse(request.url, 200, headers, raw)

    def serve(self, bodies: Sequence[bytes]) -> None:
        """Answer BatchGetItems with ``bodies``, from the first."""
        self.gets = [(body, str(zlib.crc32(body))) for body in bodies]
        self.served, self.calls = 0, {}


def client_tables(answers: Answers) -> DynamoTables:
    """The store's tables through a boto3 client given ``answers``, warmed up."""
    keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}  # sign, go nowhere
    client = boto3.client("dynamodb", "ap-northeast-1", **keys)
    client.meta.events.register("before-send.dynamodb", answers)
    answers.serve([b'{"Responses":{},"UnprocessedKeys":{}}'])
    key = {"pk": {"S": meter_id(0)}, "sk": {"N": str(UTC_DAYS[0])}}
    client.batch_get_item(RequestItems={TABLE: {"Keys": [key]}})  # loads what it loads once
    return DynamoTables("bench-", client)


def bench_client(args: argparse.Namespace, bodies: list[bytes], want: Grids) -> None:
    """Part 2: ``boundary_registers`` of every meter, chunk by chunk, through boto3; then
    the same BatchGetItems one after another in one thread, each decoded."""
    answers = Answers()
    tables = client_tables(answers)
    readings = DynamoReadings(tables)
    ids = [meter_id(m) for m in range(args.meters)]
    chunks = [ids[lo : lo + AGGREGATE_CHUNK] for lo in range(0, len(ids), AGGREGATE_CHUNK)]
    print(f"2. the read through boto3, {len(bodies):,} BatchGetItems answered at once")
    for round_ in range(args.repeat):
        answers.serve(bodies)
        load, t0, cpu = os.getloadavg()[0], time.perf_counter(), time.process_time()
        as_of = Watermark(9, args.meters)
        grids = [readings.boundary_registers(c, DAY.start, DAY.count, as_of) for c in chunks]
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
        check(tuple(np.concatenate(g) for g in zip(*grids, strict=True)), want, slice(None), "read")
        answers.serve(bodies)
        fwd = np.full((args.meters, DAY.count + 1), NO_REGISTER, np.uint32)
        alone, rows, one = (fwd, fwd.copy()), {m: n for n, m in enumerate(ids)}, time.process_time()
        for part in answer_keys(args.meters):
            keys = [{"pk": {"S": meter_id(m)}, "sk": {"N": str(d)}} for m, d in part]
            items = tables.get_many(tables.readings, keys)
            fill_registers(alone, items, rows, (DAY.start, DAY.count), 9)
        one = time.process_time() - one
        check(alone, want, slice(None), "one thread")
        print(
            f"  round {round_ + 1} (load {load:.2f}): {wall:.2f} s wall, {cpu:.2f} s CPU,"
            f" {1000 * cpu / len(bodies):.2f} ms an answer; in one thread {one:.2f} s CPU,"
            f" {1000 * one / len(bodies):.2f} ms an answer"
        )
    request = AWSPreparedRequest("POST", "https://x", {"X-Amz-Target": ".BatchGetItem"}, b"", False)
    answering = timed(lambda: answers(request), 1000)
    print(f"  (of which this benchmark's answering: {1e6 * sum(answering) / 1000:.0f} µs each)")


def readings_of(meter: int, day: int, rows: np.ndarray) -> list[Reading]:
    """The readings ``rows`` (of ``records``) hold, of ``meter``'s UTC ``day``."""
    found = []
    for second, fwd, rev, _, lag in rows.tolist():
        t, none = day * DAY_SECONDS + second, rev == NO_REGISTER
        found.append(Reading(meter_id(meter), t, fwd, None if none else rev, t + lag))
    return found


def settle_and_pack(readings: Sequence[Reading], items: Sequence[Item]) -> list[bytes | None]:
    """What ``add_readings`` computes between its calls: the batch settled against the
    items as read, each day packed as the batch leaves it."""
    check_registers(readings)
    days = days_of(readings)
    found = {(i["pk"]["S"], int(i["sk"]["N"])): i for i in items}
    for day in days:
        day.settle(found.get((day.meter, day.day)), 1_800_000_000)
    if not any(d.written(0) is not None for d in days):
        raise SystemExit("the batch changes nothing")
    return [day.written(101) for day in days]


def timed(work: Callable[[], object], times: int) -> list[float]:
    """CPU seconds of each of ``times`` runs of ``work``."""
    spent = []
    for _ in range(times):
        cpu = time.process_time()
        work()
        spent.append(time.process_time() - cpu)
    return spent


def bench_writes(args: argparse.Namespace) -> None:
    """Part 3: a batch of one reading of each of ``--batch`` meters (the 21st of their
    UTC day) settled and packed, then stored through boto3."""
    day, size = UTC_DAYS[0], args.batch
    grid = records(range(size), [day], per_day=21)
    readings = [readings_of(m, day, grid[m, -1:])[0] for m in range(size)]
    keys = [[(m, day) for m in range(lo, min(lo + 100, size))] for lo in range(0, size, 100)]
    bodies = [body_of([wire_item(m, d, grid[m, :-1], "packed") for m, d in p]) for p in keys]
    parsed = [
        PARSER.parse({"headers": {}, "status_code": 200, "body": b}, BATCH_GET) for b in bodies
    ]
    items = [item for answer in parsed for item in answer["Responses"][TABLE]]
    answers = Answers()
    store = DynamoReadings(client_tables(answers))
    answers.serve(bodies)
    print(f"3. a batch of {size} readings of {size} meters, each the 21st of its UTC day")
    for round_ in range(args.repeat):
        own = statistics.median(timed(lambda: settle_and_pack(readings, items), args.writes))
        answers.calls, t0 = {}, time.perf_counter()
        whole = timed(lambda: store.add_readings(readings, 1_800_000_000), args.writes)
        wall, whole_cpu = (time.perf_counter() - t0) / args.writes, statistics.median(whole)
        print(
            f"  round {round_ + 1} (load {os.getloadavg()[0]:.2f}), medians of {args.writes}:"
            f" settle + pack {1000 * own:.1f} ms ({1e6 * own / size:.0f} µs a reading);"
            f" add_readings {1000 * whole_cpu:.0f} ms CPU, {1000 * wall:.0f} ms wall"
            f" ({1e6 * whole_cpu / size:.0f} µs a reading; calls"
            f" { ({k: v // args.writes for k, v in answers.calls.items()}) } a batch)"
        )
    result = store.add_readings(readings, 1_800_000_000)
    if result.stored != size:
        raise SystemExit(f"add_readings: {result}")


def cpu_model() -> str:
    lines = Path("/proc/cpuinfo").read_text().splitlines()
    return next((n.split(":")[1].strip() for n in lines if n.startswith("model name")), "?")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=40, help="answers in other layouts")
    parser.add_argument("--batch", type=int, default=500, help="readings in a batch written")
    parser.add_argument("--writes", type=int, default=10, help="batches timed a round")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of each part")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), Python"
        f" {platform.python_version()}, botocore {botocore.__version__}, boto3"
        f" {boto3.__version__}, numpy {np.__version__}, load {os.getloadavg()[0]:.2f}"
    )
    started = time.perf_counter()
    bodies = answers(answer_keys(args.meters))
    want = expected(args.meters)
    print(
        f"{args.meters:,} meters' Tokyo day, {len(UTC_DAYS)} UTC days each: {len(bodies):,}"
        f" answers of 100 items, {sum(map(len, bodies)) / 1e6:.0f} MB of JSON"
        f" (made in {time.perf_counter() - started:.1f} s)"
    )
    bench_parse(args, bodies, want)
    bench_client(args, bodies, want)
    bench_writes(args)
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
