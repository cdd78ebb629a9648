"""Publish the household resident table to the mock platform: govconnect vs a bare baseline.

    python benchmarks/bench_publish.py [--rows 1000000] [--batch 2000]

Side by side in one run, each in its own process (so each peak RSS is its own):

- **govconnect**: ``Publisher`` reads the dataset service (SQLAlchemy, streamed), validates every
  record against its pydantic model (citizen-ID check digits included), commits batches to the
  durable outbox (SQLite WAL, FULL sync) with the bookmark in the same transaction; a
  ``DeliveryWorker`` delivers to the platform in the background meanwhile (``delivering()``, as
  ``govconnect publish --deliver`` does), and also, for comparison, after the publish (``drain``).
- **bare**: raw ``sqlite3`` cursor → ``json.dumps`` of each batch → ``httpx`` posts; no validation,
  no durability.

Both talk to the same ``MockPlatform`` on 127.0.0.1 (no faults) running in this process. Prints
rows/s for both, the ratio (target ≥ 0.5x) and each side's peak RSS (target: well under 150 MB).
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

RESOURCE = "111112001/0002"
NODE = "11010500000/HJGL"
COLUMNS = "gmsfhm, xm, xb, mz, csrq, hh, yhzgx, hjdz, xzqh, lxdh, zt, djrq, gxsj"


def peak_rss_mb() -> float:
    """Peak RSS of this process image (VmHWM; ru_maxrss would include the parent's before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sdk(
    db: Path, url: str, token: str, work: Path, batch: int, overlap: bool
) -> dict[str, float]:
    from govconnect import DeliveryWorker, ExchangeClient, Outbox, Publisher, load_registry

    registry = load_registry(config={"connectors": {"household": {"url": f"sqlite:///{db}"}}})
    started = time.perf_counter()
    path = work / f"outbox-{uuid.uuid4().hex}.sqlite"
    with (
        Outbox(path) as outbox,
        ExchangeClient(url, token=token, node=NODE, user_id="bench") as client,
    ):
        publisher = Publisher(registry, outbox, batch_size=batch, rejects_dir=work / "rejects")
        worker = DeliveryWorker(outbox, client, batch_size=batch)
        if overlap:
            with worker.delivering() as stats:
                report = publisher.publish(RESOURCE, full=True)
            queued = time.perf_counter() - started  # not separable: both ran together
        else:
            report = publisher.publish(RESOURCE, full=True)
            queued = time.perf_counter() - started
            stats = worker.drain()
        publisher.close()
    elapsed = time.perf_counter() - started
    return {
        "rows": report.read,
        "delivered": stats.records_delivered,
        "queue_seconds": queued,
        "seconds": elapsed,
        "peak_rss_mb": peak_rss_mb(),
    }


def run_bare(db: Path, url: str, token: str, batch: int) -> dict[str, float]:
    import httpx

    names = [c.strip() for c in COLUMNS.split(",")]
    headers = {"Authorization": f"Bearer {token}", "X-GovConnect-Node": NODE, "X-User-Id": "bench"}
    started = time.perf_counter()
    rows = delivered = 0
    conn = sqlite3.connect(db)
    cursor = conn.execute(f"SELECT {COLUMNS} FROM hj_resident ORDER BY gxsj, gmsfhm")
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        while chunk := cursor.fetchmany(batch):
            records = [
                {"id": r[0], "op": "upsert", "data": dict(zip(names, r, strict=True))}
                for r in chunk
            ]
            body = json.dumps({"resource_code": RESOURCE, "records": records}, ensure_ascii=False)
            response = client.post(
                "/v1/exchange/records",
                content=body.encode(),
                headers={
                    "Idempotency-Key": uuid.uuid4().hex,
                    "X-Message-Id": uuid.uuid4().hex,
                    "Content-Type": "application/json",
                },
            )
            response.raise_for_status()
            rows += len(chunk)
            delivered += response.json()["accepted"]
    conn.close()
    return {
        "rows": rows,
        "delivered": delivered,
        "seconds": time.perf_counter() - started,
        "peak_rss_mb": peak_rss_mb(),
    }


def child(role: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [
        sys.executable,
        __file__,
        "--role",
        role,
        "--db",
        str(args.db),
        "--url",
        args.url,
        "--token",
        args.token,
        "--work",
        str(args.work),
        "--batch",
        str(args.batch),
        *(["--overlap"] if role == "sdk-overlap" else []),
    ]
    role = role.removesuffix("-overlap")
    cmd[3] = role
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{role} run failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--role", choices=["sdk", "bare"])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--overlap", action="store_true")
    args = parser.parse_args()
    if args.role == "sdk":
        result = run_sdk(args.db, args.url, args.token, args.work, args.batch, args.overlap)
        print(json.dumps(result))
        return
    if args.role == "bare":
        print(json.dumps(run_bare(args.db, args.url, args.token, args.batch)))
        return

    from govconnect_household import create_sample_database

    from govconnect import ExchangeClient, load_registry
    from govconnect.testing import MockPlatform

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        args.db, args.work = work / "household.sqlite", work
        t = time.perf_counter()
        create_sample_database(f"sqlite:///{args.db}", count=args.rows, chunk=20_000)
        print(f"sample table: {args.rows:,} rows in {time.perf_counter() - t:.1f}s")
        with MockPlatform(faults="none", seed=1) as platform:
            args.url, args.token = platform.url, platform.token
            catalog = load_registry(config={}).catalog()
            with ExchangeClient(
                platform.url, token=platform.token, node=NODE, user_id="bench"
            ) as c:
                c.sync_catalog(r.model_dump(mode="json") for r in catalog.resources)
            bare = child("bare", args)
            sdk = child("sdk-overlap", args)
            after = child("sdk", args)
            for run in (sdk, after):
                assert run["delivered"] == bare["delivered"] == args.rows, (run, bare)
            assert len(platform.latest(RESOURCE)) == args.rows

    bare_rate = bare["rows"] / bare["seconds"]
    print(f"{'':24}{'rows/s':>12}{'seconds':>10}{'peak RSS MB':>14}")
    print(f"{'bare':24}{bare_rate:>12,.0f}{bare['seconds']:>10.1f}{bare['peak_rss_mb']:>14.1f}")
    for name, run in (("govconnect", sdk), ("govconnect, drain after", after)):
        rate = run["rows"] / run["seconds"]
        print(
            f"{name:24}{rate:>12,.0f}{run['seconds']:>10.1f}{run['peak_rss_mb']:>14.1f}"
            + ("" if run is sdk else f"   (queued to the outbox in {run['queue_seconds']:.1f}s)")
        )
    ratio = sdk["rows"] / sdk["seconds"] / bare_rate
    print(f"ratio govconnect / bare: {ratio:.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    main()
