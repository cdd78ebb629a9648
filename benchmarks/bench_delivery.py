"""End-to-end delivery to the mock platform on loopback: the outbox vs a bare httpx loop.

The mock platform runs in its own process (as a real platform would), driven over a small control
pipe for fault profiles and counts. Side by side, in alternating rounds:

1. bare: an ``httpx.Client`` posting the records in batches, no durability, no retries;
2. govconnect: ``Outbox.enqueue`` (committed, ``synchronous=FULL``) then ``DeliveryWorker.drain``
   with the same batch size — end to end (enqueue + drain) and drain only; target >= 0.9x;
3. govconnect under the ``flaky`` profile (Retry-After 1 s as the profile says, the default
   durable retry policy): drain rate, and records lost / applied twice at the platform (0 / 0).

    python benchmarks/bench_delivery.py [--records 100000] [--batch-size 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from govconnect import DeliveryStats, DeliveryWorker, ExchangeClient, Outbox
from govconnect import _platform as P
from govconnect.testing import DEFAULT_NODE

SERVER = """
import collections, json, sys
from govconnect.testing import MockPlatform
platform = MockPlatform(seed=int(sys.argv[1])).start()
print(json.dumps({"url": platform.url, "token": platform.token}), flush=True)
for line in sys.stdin:
    command = json.loads(line)
    if command["op"] == "faults":
        platform.set_faults(command["profile"])
        answer = {}
    elif command["op"] == "count":
        applied = collections.Counter(r["id"] for r in platform.records(command["code"]))
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


def make_records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "name": f"居民{i}",
            "district": "110105",
            "household": f"H{i // 4:07d}",
            "updated": "2026-11-21T08:00:00+08:00",
        }
        for i in range(n)
    ]


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
    batch: int,
    threads: int,
    path: Path,
) -> tuple[float, float, DeliveryStats]:
    with Outbox(path) as outbox:
        started = time.perf_counter()
        outbox.enqueue(code, records, user_id="bench")
        enqueued = time.perf_counter()
        stats = DeliveryWorker(outbox, client, batch_size=batch).drain(threads=threads, timeout=900)
        done = time.perf_counter()
        assert outbox.pending() == 0, "drain did not finish"
    return done - started, done - enqueued, stats


def concurrent(
    client: ExchangeClient,
    code: str,
    records: list[dict[str, Any]],
    batch: int,
    threads: int,
    path: Path,
    chunk: int = 10_000,
) -> float:
    """A producer enqueues in chunks while a worker drains in the background, as a connector runs."""
    finished = threading.Event()
    with Outbox(path) as outbox:
        worker = DeliveryWorker(outbox, client, batch_size=batch)

        def work() -> None:
            while not (finished.is_set() and outbox.pending() == 0):
                worker.drain(threads=threads, timeout=900)
                time.sleep(0.001)

        started = time.perf_counter()
        background = threading.Thread(target=work)
        background.start()
        for i in range(0, len(records), chunk):
            outbox.enqueue(code, records[i : i + chunk], user_id="bench")
        finished.set()
        background.join(timeout=900)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    n, batch = args.records, args.batch_size
    records = make_records(n)
    platform = Platform(args.seed)
    client = ExchangeClient(
        platform.url,
        token=platform.token,
        node=DEFAULT_NODE,
        user_id="bench",
        timeout=30,
        retry=None,
    )
    codes = [f"111112001/{3000 + i}" for i in range(3 * args.rounds + 1)]
    for code in codes:
        client.retry = None
        client.put_resource({"code": code, "version": 1})
    times: dict[str, list[float]] = {"bare": [], "e2e": [], "drain": [], "concurrent": []}
    checks: list[tuple[str, str, int, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            bare_code, outbox_code, concurrent_code = codes[3 * r : 3 * r + 3]
            runs = ["bare", "outbox", "concurrent"]
            for which in runs if r % 2 == 0 else runs[::-1]:
                if which == "bare":
                    times["bare"].append(bare(platform, bare_code, records, batch))
                    checks.append(("bare", bare_code, 0, 0))
                elif which == "outbox":
                    path = Path(tmp) / f"round-{r}.sqlite"
                    e2e, drain, _ = govconnect(
                        client, outbox_code, records, batch, args.threads, path
                    )
                    times["e2e"].append(e2e)
                    times["drain"].append(drain)
                    checks.append(("outbox", outbox_code, 0, 0))
                else:
                    path = Path(tmp) / f"concurrent-{r}.sqlite"
                    times["concurrent"].append(
                        concurrent(client, concurrent_code, records, batch, args.threads, path)
                    )
                    checks.append(("concurrent", concurrent_code, 0, 0))
        platform.ask(op="faults", profile="flaky")
        flaky_code = codes[-1]
        flaky_e2e, flaky_drain, stats = govconnect(
            client, flaky_code, records, batch, args.threads, Path(tmp) / "flaky.sqlite"
        )
    client.close()
    counts = {code: platform.ask(op="count", code=code) for _, code, *_ in checks}
    flaky = platform.ask(op="count", code=flaky_code)
    platform.close()

    def rate(seconds: float) -> str:
        return f"{n / seconds:>9,.0f} records/s"

    def ratio(name: str) -> float:
        return statistics.median(b / t for b, t in zip(times["bare"], times[name], strict=True))

    def verdict(value: float) -> str:
        return f"median ratio {value:.2f}x (target >= 0.90x) {'OK' if value >= 0.9 else 'BELOW'}"

    best = {name: min(values) for name, values in times.items()}
    print(
        f"deliver {n} records in batches of {batch} to the mock platform (own process) on"
        f" loopback; {args.rounds} rounds, best times; {args.threads} worker thread(s)"
    )
    print(f"  bare httpx loop, no durability         : {best['bare']:7.3f}s {rate(best['bare'])}")
    print(
        f"  outbox drain (records already enqueued): {best['drain']:7.3f}s {rate(best['drain'])}"
        f"  {verdict(ratio('drain'))}"
    )
    print(
        f"  enqueue while a worker drains, e2e     : {best['concurrent']:7.3f}s"
        f" {rate(best['concurrent'])}  {verdict(ratio('concurrent'))}"
    )
    print(
        f"  enqueue all, then drain, e2e           : {best['e2e']:7.3f}s {rate(best['e2e'])}"
        f"  {verdict(ratio('e2e'))}"
    )
    lost_dup = [(n - c["distinct"], c["applied"] - c["distinct"]) for c in counts.values()]
    print(f"  fault-free runs, lost / applied twice: {sorted(set(lost_dup))}")
    lost, dup = n - flaky["distinct"], flaky["applied"] - flaky["distinct"]
    print(
        f"  under 'flaky': end to end {flaky_e2e:.3f}s {rate(flaky_e2e)};"
        f" drain {flaky_drain:.3f}s {rate(flaky_drain)}"
    )
    print(
        f"    faults injected {flaky['faults']}; retries {stats.retries};"
        f" duplicate acks {stats.duplicates}"
    )
    ok = (lost, dup) == (0, 0) and set(lost_dup) == {(0, 0)}
    print(f"    lost {lost}, applied twice {dup} (target 0 / 0) {'OK' if ok else 'FAILED'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
