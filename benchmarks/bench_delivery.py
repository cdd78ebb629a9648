"""End-to-end delivery to the mock platform on loopback: the outbox vs a bare httpx loop.

The mock platform runs in its own process (as a real platform would), a fresh one per run, driven
over a small control pipe for fault profiles and counts. Side by side, in alternating rounds:

1. bare: an ``httpx.Client`` posting the records in batches, no durability, no retries;
2. govconnect: ``Outbox.enqueue`` (committed, ``synchronous=FULL``) then ``DeliveryWorker.drain``
   with the same batch size — the drain alone, and enqueue + drain one after the other;
3. govconnect end to end as a producer uses it: ``DeliveryWorker.delivering()`` delivers in the
   background while the records are enqueued in slices of ``--slice`` (one commit each, as the
   dataset publisher commits its batches); timed until everything is delivered; target >= 0.9x;
4. govconnect under the ``flaky`` profile (Retry-After 1 s as the profile says, the default
   durable retry policy): drain rate, and records lost / applied twice at the platform (0 / 0).

    python benchmarks/bench_delivery.py [--records 100000] [--batch-size 500] [--rounds 5]
                                        [--slice 5000] [--latency 0.005]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from _records import make_records

from govconnect import DeliveryStats, DeliveryWorker, ExchangeClient, Outbox
from govconnect.exchange import platform as P
from govconnect.testing import DEFAULT_NODE

SERVER = """
import collections, json, sys
from govconnect.testing import MockPlatform
platform = MockPlatform(seed=int(sys.argv[1])).start()
print(json.dumps({"url": platform.url, "token": platform.token}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "faults":
        platform.set_faults(command["profile"], latency=command.get("latency", 0.0))
        answer = {}
    elif command["op"] == "count":
        applied = collections.Counter(platform.application_counts(command["code"]))
        answer = {"applied": sum(applied.values()), "distinct": len(applied),
                  "faults": platform.faults_injected, "refused": platform.duplicates_refused}
    else:
        break
    print(json.dumps(answer), flush=True)
platform.stop()
"""


class Platform:
    """The mock platform in a child process, and the pipe that steers it."""

    def __init__(self, seed: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(seed)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = json.loads(self.proc.stdout.readline())
        self.url, self.token = hello["url"], hello["token"]

    def ask(self, **command: Any) -> dict[str, Any]:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.write('{"op": "quit"}\n')
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


def bare(platform: Platform, code: str, records: list[dict[str, Any]], batch: int) -> float:
    headers = {P.HEADER_AUTHORIZATION: f"Bearer {platform.token}", P.HEADER_NODE: DEFAULT_NODE}
    encoded_code = orjson.dumps(code)
    with httpx.Client(base_url=platform.url, headers=headers, timeout=30) as client:
        started = time.perf_counter()
        for i in range(0, len(records), batch):
            body = b'{"resource_code":%b,"records":[%b]}' % (
                encoded_code,
                b",".join(orjson.dumps(r) for r in records[i : i + batch]),
            )
            key = uuid.uuid4().hex
            response = client.post(
                P.PATH_RECORDS,
                content=body,
                headers={
                    P.HEADER_MESSAGE_ID: key,
                    P.HEADER_USER_ID: "bench",
                    P.HEADER_IDEMPOTENCY_KEY: key,
                    "Content-Type": "application/json",
                },
            )
            response.raise_for_status()
        return time.perf_counter() - started


def govconnect(
    client: ExchangeClient,
    code: str,
    records: list[dict[str, Any]],
    args: argparse.Namespace,
    path: Path,
    overlap: bool,
) -> tuple[float, float | None, DeliveryStats]:
    """(until all delivered, the drain alone or None, stats): one enqueue then the drain, or
    enqueues of ``args.slice`` records while delivering in the background (``overlap``)."""
    with Outbox(path, batch_size=args.batch_size) as outbox:
        worker = DeliveryWorker(outbox, client)
        started = time.perf_counter()
        drained = None
        if overlap:
            with worker.delivering(threads=args.threads, timeout=900) as stats:
                for i in range(0, len(records), args.slice):
                    outbox.enqueue(code, records[i : i + args.slice], user_id="bench")
        else:
            outbox.enqueue(code, records, user_id="bench")
            drained = time.perf_counter()
            stats = worker.drain(threads=args.threads, timeout=900)
        done = time.perf_counter()
        assert outbox.pending() == 0, "delivery did not finish"
    return done - started, None if drained is None else done - drained, stats


CODE = "111112001/3001"


def run_once(
    kind: str,
    records: list[dict[str, Any]],
    args: argparse.Namespace,
    tmp: str,
    faults: str = "none",
) -> dict[str, Any]:
    """One run against a fresh platform process (its memory grows with what it stores, which
    would slow later runs): returns times, delivery stats and the platform's counts."""
    platform = Platform(args.seed)
    try:
        client = ExchangeClient(
            platform.url,
            token=platform.token,
            node=DEFAULT_NODE,
            user_id="bench",
            timeout=30,
            retry=None,
        )
        with client:
            client.put_resource({"code": CODE, "version": 1})
            platform.ask(op="faults", profile=faults, latency=args.latency)
            path = Path(tmp) / f"{uuid.uuid4().hex}.sqlite"
            if kind == "bare":
                result: dict[str, Any] = {"bare": bare(platform, CODE, records, args.batch_size)}
            else:
                total, drain, stats = govconnect(
                    client, CODE, records, args, path, overlap=kind == "overlap"
                )
                result = {"overlap" if drain is None else "e2e": total, "stats": stats}
                if drain is not None:
                    result["drain"] = drain
        result["count"] = platform.ask(op="count", code=CODE)
    finally:
        platform.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--slice", type=int, default=5000, help="Records per enqueue call when overlapped."
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--verbose", action="store_true", help="Print every round's times.")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="Seconds the platform adds to every answer, as a government network would.",
    )
    args = parser.parse_args()
    n = args.records
    records = make_records(n)
    times: dict[str, list[float]] = {"bare": [], "e2e": [], "drain": [], "overlap": []}
    counts: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            kinds = ("bare", "outbox", "overlap")
            for kind in kinds if r % 2 == 0 else kinds[::-1]:
                result = run_once(kind, records, args, tmp)
                for name in times:
                    if name in result:
                        times[name].append(result[name])
                counts.append(result["count"])
        flaky_run = run_once("outbox", records, args, tmp, faults="flaky")
    flaky, stats = flaky_run["count"], flaky_run["stats"]

    def rate(seconds: float) -> str:
        return f"{n / seconds:>9,.0f} records/s"

    def ratios(name: str) -> list[float]:
        return [b / t for b, t in zip(times["bare"], times[name], strict=True)]

    def ratio(name: str) -> str:
        each = ratios(name)
        return f"median ratio {statistics.median(each):.2f}x ({min(each):.2f}-{max(each):.2f})"

    def verdict(name: str) -> str:
        ok = statistics.median(ratios(name)) >= 0.9
        return f"{ratio(name)} (target >= 0.90x) {'OK' if ok else 'BELOW'}"

    best = {name: min(values) for name, values in times.items()}
    if args.verbose:
        for name, values in times.items():
            print(f"  {name:6s} per round: " + ", ".join(f"{v:.3f}s" for v in values))
    print(
        f"deliver {n} records in batches of {args.batch_size} to the mock platform (own process,"
        f" fresh per run) on loopback, {args.latency * 1000:g} ms added latency;"
        f" {args.rounds} rounds; {args.threads} worker thread(s)"
    )
    print(
        f"  bare httpx loop, no durability         : best {best['bare']:6.3f}s {rate(best['bare'])}"
    )
    print(
        f"  end to end, delivering while enqueueing: best {best['overlap']:6.3f}s"
        f" {rate(best['overlap'])}  {verdict('overlap')}"
    )
    print(
        f"  outbox drain (records already enqueued): best {best['drain']:6.3f}s"
        f" {rate(best['drain'])}  {verdict('drain')}"
    )
    print(
        f"  enqueue all, then drain (one by one)   : best {best['e2e']:6.3f}s"
        f" {rate(best['e2e'])}  {ratio('e2e')}"
    )
    lost_dup = {(n - c["distinct"], c["applied"] - c["distinct"]) for c in counts}
    print(f"  fault-free runs, (lost, applied twice): {sorted(lost_dup)}")
    lost, dup = n - flaky["distinct"], flaky["applied"] - flaky["distinct"]
    print(
        f"  under 'flaky': end to end {flaky_run['e2e']:.3f}s {rate(flaky_run['e2e'])};"
        f" drain {flaky_run['drain']:.3f}s {rate(flaky_run['drain'])}"
    )
    print(
        f"    faults injected {flaky['faults']}; retries {stats.retries};"
        f" duplicate acks {stats.duplicates}; platform refused {flaky['refused']} duplicate(s)"
    )
    ok = (lost, dup) == (0, 0) and lost_dup == {(0, 0)}
    print(f"    lost {lost}, applied twice {dup} (target 0 / 0) {'OK' if ok else 'FAILED'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
