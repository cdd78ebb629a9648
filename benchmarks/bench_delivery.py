"""End-to-end delivery to the mock platform on loopback: the outbox vs a bare httpx loop.

Three runs, side by side, against one mock platform (uvicorn in a thread of this process):

1. bare: an ``httpx.Client`` posting the records in batches, no durability, no retries;
2. govconnect: ``Outbox.enqueue`` (committed, ``synchronous=FULL``) then ``DeliveryWorker.drain``
   with the same batch size — reported end to end (enqueue + drain) and drain only; target >= 0.9x;
3. govconnect under the ``flaky`` fault profile (Retry-After 1 s as the profile says, the default
   durable retry policy): drain rate, and records lost / applied twice at the platform (target 0 / 0).

    python benchmarks/bench_delivery.py [--records 100000] [--batch-size 500] [--threads 1]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson

from govconnect import DeliveryWorker, ExchangeClient, Outbox, RetryPolicy
from govconnect import _platform as P
from govconnect.testing import DEFAULT_NODE, MockPlatform

CODES = {"bare": "111112001/3001", "outbox": "111112001/3002", "flaky": "111112001/3003"}


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


def bare(platform: MockPlatform, records: list[dict[str, Any]], batch: int) -> float:
    headers = {P.HEADER_AUTHORIZATION: f"Bearer {platform.token}", P.HEADER_NODE: DEFAULT_NODE}
    code = orjson.dumps(CODES["bare"])
    with httpx.Client(base_url=platform.url, headers=headers, timeout=30) as client:
        started = time.perf_counter()
        for i in range(0, len(records), batch):
            body = b'{"resource_code":%b,"records":[%b]}' % (
                code,
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
    platform: MockPlatform,
    records: list[dict[str, Any]],
    batch: int,
    threads: int,
    name: str,
    tmp: str,
    policy: RetryPolicy | None = None,
) -> tuple[float, float, Any]:
    client = ExchangeClient(
        platform.url,
        token=platform.token,
        node=DEFAULT_NODE,
        user_id="bench",
        timeout=30,
        retry=None,
    )
    with client, Outbox(Path(tmp) / f"{name}.sqlite") as outbox:
        started = time.perf_counter()
        outbox.enqueue(CODES[name], records, user_id="bench")
        enqueued = time.perf_counter()
        kwargs = {"policy": policy} if policy else {}
        worker = DeliveryWorker(outbox, client, batch_size=batch, **kwargs)
        stats = worker.drain(threads=threads, timeout=600)
        done = time.perf_counter()
        assert outbox.pending() == 0, "drain did not finish"
    return done - started, done - enqueued, stats


def lost_and_duplicated(platform: MockPlatform, code: str, total: int) -> tuple[int, int]:
    applied = collections.Counter(r["id"] for r in platform.records(code))
    return total - len(applied), sum(count - 1 for count in applied.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    n, batch = args.records, args.batch_size
    records = make_records(n)
    with MockPlatform(seed=args.seed) as platform, tempfile.TemporaryDirectory() as tmp:
        setup = ExchangeClient(platform.url, token=platform.token, node=DEFAULT_NODE, user_id="b")
        for code in CODES.values():
            setup.put_resource({"code": code, "version": 1})
        setup.close()
        bare_s = bare(platform, records, batch)
        e2e_s, drain_s, _ = govconnect(platform, records, batch, args.threads, "outbox", tmp)
        platform.set_faults("flaky")
        flaky_e2e, flaky_drain, stats = govconnect(
            platform, records, batch, args.threads, "flaky", tmp
        )
        faults = platform.faults_injected
        results = {name: lost_and_duplicated(platform, code, n) for name, code in CODES.items()}
        refused = platform.duplicates_refused
    rate = lambda seconds: n / seconds  # noqa: E731
    print(
        f"deliver {n} records in batches of {batch} to the mock platform on loopback,"
        f" {args.threads} worker thread(s)"
    )
    print(f"  bare httpx loop (no durability)   : {bare_s:7.3f}s {rate(bare_s):>10,.0f} records/s")
    print(
        f"  outbox enqueue + drain (end to end): {e2e_s:7.3f}s {rate(e2e_s):>10,.0f} records/s"
        f"  ratio {bare_s / e2e_s:.2f}x (target >= 0.90x)"
        f" {'OK' if bare_s / e2e_s >= 0.9 else 'BELOW TARGET'}"
    )
    print(
        f"  outbox drain only                  : {drain_s:7.3f}s {rate(drain_s):>10,.0f} records/s"
        f"  ratio {bare_s / drain_s:.2f}x"
    )
    print(
        f"  under 'flaky': enqueue + drain     : {flaky_e2e:7.3f}s {rate(flaky_e2e):>10,.0f} records/s;"
        f" drain only {rate(flaky_drain):,.0f} records/s"
    )
    print(
        f"    faults injected {faults}; retries {stats.retries};"
        f" duplicate acks {stats.duplicates} (platform refused {refused})"
    )
    for name, (lost, dup) in results.items():
        print(f"    {name:7s}: lost {lost}, applied twice {dup}")
    flaky_ok = results["flaky"] == (0, 0) and results["outbox"] == (0, 0)
    print(
        f"  lost / duplicated under flaky: {results['flaky'][0]} / {results['flaky'][1]}"
        f" (target 0 / 0) {'OK' if flaky_ok else 'FAILED'}"
    )
    if not flaky_ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
