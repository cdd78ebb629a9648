"""Delivery throughput with 1, 2 and 4 worker processes on one PostgreSQL outbox, against one
worker on a SQLite file: same records, same mock platform (its own process, with latency).

Each configuration gets a fresh outbox (a file, or a schema of its own on the server) holding the
same records over several targets (resources), enqueued before timing. The worker processes start,
connect and report ready; the clock runs from "go" until the last one has drained the outbox and
exited, and the platform is asked whether every record arrived exactly once. Targets (issue 15):
2 workers >= 1.6x one worker with 5 ms latency; PostgreSQL single worker >= 0.7x SQLite.

Publishing with several workers (``publish --workers 1|2`` of 1M rows) is measured by
``benchmarks/bench_publish_scale.py``.

    python benchmarks/bench_scale.py [--records 50000] [--batch-size 100] [--targets 8]
                                     [--latency 0.005] [--postgres postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import psycopg
from bench_delivery import Platform

from govconnect import ExchangeClient, Outbox
from govconnect.testing import DEFAULT_NODE

WORKER = f"""
import json, sys, time
from govconnect import DeliveryWorker, ExchangeClient, Outbox
url, token, location, batch = sys.argv[1:5]
client = ExchangeClient(url, token=token, node="{DEFAULT_NODE}", user_id="bench", retry=None)
with Outbox(location) as outbox:
    worker = DeliveryWorker(outbox, client, batch_size=int(batch))
    outbox.pending()  # connected before the clock starts
    print("ready", flush=True)
    sys.stdin.readline()
    began = time.time()
    stats = worker.drain(timeout=600)
    ended = time.time()
print(json.dumps({{"batches": stats.batches_delivered, "records": stats.records_delivered,
                  "stale": stats.stale, "began": began, "ended": ended,
                  "cpu": time.process_time()}}), flush=True)
"""


def codes(targets: int) -> list[str]:
    return [f"111112001/{2001 + i}" for i in range(targets)]


def fill(location: str, records: int, batch: int, targets: int) -> None:
    """The records, spread over the targets in interleaved enqueues of ten batches each."""
    per_call = 10 * batch
    with Outbox(location, batch_size=batch) as outbox:
        start = 0
        while start < records:
            for code in codes(targets):
                count = min(per_call, records - start)
                if count <= 0:
                    break
                outbox.enqueue(
                    code, [{"id": i, "v": "x" * 40} for i in range(start, start + count)]
                )
                start += count


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(platform: Platform, location: str, workers: int, batch: int) -> tuple[float, int, float]:
    """Seconds from the first worker's start to the last one's end of draining ``location``
    (process start-up and exit are not delivery); stale settles; the workers' CPU seconds."""
    args = [platform.url, platform.token, location, str(batch)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready"
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = [json.loads(proc.communicate(timeout=600)[0].splitlines()[-1]) for proc in procs]
    seconds = max(r["ended"] for r in reports) - min(r["began"] for r in reports)
    return seconds, sum(r["stale"] for r in reports), sum(r["cpu"] for r in reports)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--targets", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.005)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("GOVCONNECT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1/test"),
    )
    opts = parser.parse_args()
    platform = Platform(seed=15)
    platform.ask(op="faults", profile="none", latency=opts.latency)
    client = ExchangeClient(
        platform.url, token=platform.token, node=DEFAULT_NODE, user_id="bench", retry=None
    )
    for code in codes(opts.targets):
        client.put_resource({"code": code, "version": 1})
    client.close()
    results: dict[str, float] = {}
    counted = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            configs = [("sqlite", 1), ("postgresql", 1), ("postgresql", 2), ("postgresql", 4)]
            for engine, workers in configs:
                if engine == "sqlite":
                    location = str(Path(tmp) / f"{uuid.uuid4().hex}.sqlite")
                    schema = None
                else:
                    schema = f"bench_{uuid.uuid4().hex[:10]}"
                    location = f"{opts.postgres}?schema={schema}"
                try:
                    fill(location, opts.records, opts.batch_size, opts.targets)
                    platform_cpu = cpu_seconds(platform.proc.pid)
                    seconds, stale, cpu = run(platform, location, workers, opts.batch_size)
                    platform_cpu = cpu_seconds(platform.proc.pid) - platform_cpu
                finally:
                    if schema:
                        with psycopg.connect(opts.postgres, autocommit=True) as conn:
                            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
                counted += opts.records
                applied = sum(
                    platform.ask(op="count", code=c)["applied"] for c in codes(opts.targets)
                )
                name = f"{engine} x{workers}"
                results[name] = seconds
                print(
                    f"{name:14} {seconds:6.2f} s  {opts.records / seconds:9.0f} records/s"
                    f"  CPU: workers {cpu:5.2f} s (with start-up), platform {platform_cpu:5.2f} s;"
                    f" stale settles {stale}; applied {applied} of {counted} so far"
                )
    finally:
        platform.close()
    one = results["postgresql x1"]
    print(
        f"\n{opts.records} records, batches of {opts.batch_size}, {opts.targets} targets,"
        f" {opts.latency * 1000:.0f} ms platform latency, {os.cpu_count()} cores,"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    print(f"postgresql x1 / sqlite x1: {results['sqlite x1'] / one:.2f}x   (target >= 0.7x)")
    print(f"postgresql x2 / x1:        {one / results['postgresql x2']:.2f}x   (target >= 1.6x)")
    print(f"postgresql x4 / x1:        {one / results['postgresql x4']:.2f}x")


if __name__ == "__main__":
    main()
