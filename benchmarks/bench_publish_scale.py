"""Parallel publishing: ``publish --workers 1`` vs ``--workers 2`` of the household resident table.

    python benchmarks/bench_publish_scale.py [--rows 1000000] [--workers 1,2]
        [--engines postgresql] [--postgres postgresql://postgres@127.0.0.1/test] [--db PATH]

The legacy table is the household sample (``hj_resident``, citizen IDs as primary key, SQLite),
read by the shipped household plugin's resident dataset, which declares ``split=`` (citizen-ID
quantiles, one ``OFFSET`` probe on the primary key per boundary) and ``key_from`` / ``key_to``
params, so ``Publisher.publish(..., partitions=N)`` reads N key ranges in N forked worker
processes. Every record is validated
against the household ``Resident`` model (check digits included), encoded, fingerprinted and
committed with its fingerprints to a fresh outbox: a schema of its own on PostgreSQL (issue 15:
"real parallel"), or a file on SQLite (``--engines sqlite``: workers take turns on the write lock).
Each configuration runs in a process of its own; the clock covers the publication (the split,
the forks, the reads, the commits, the run's record). Also printed: CPU seconds of the publisher
and its workers, and how busy the machine's cores were during the run (``/proc/stat``), which is
what says why two workers are not twice one on a small machine.

``--db PATH`` keeps the sample table between runs (it is created when missing); building 1M rows
takes a minute or two.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CODE = "111112001/0002"
"""The household plugin's resident dataset: it declares ``split="resident_id_quantiles"``."""


def publish(db: str, location: str, workers: int, batch: int, rejects: str) -> dict[str, float]:
    """One configuration, in this (child) process."""
    import govconnect_household

    from govconnect import Outbox, Publisher, load_registry

    settings = {"url": f"sqlite:///{db}", "chunk_size": 2000}
    registry = load_registry(plugins=[govconnect_household], entry_points=False,
                             config={"connectors": {"household": settings}})  # fmt: skip
    with Outbox(location) as outbox:
        publisher = Publisher(registry, outbox, batch_size=batch, rejects_dir=rejects)
        started = time.perf_counter()
        report = publisher.publish(CODE, partitions=workers)
        seconds = time.perf_counter() - started
        publisher.close()
    mine, children = (
        resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    return {
        "read": report.read,
        "published": report.published,
        "partitions": report.partitions,
        "seconds": seconds,
        "cpu_publisher": mine.ru_utime + mine.ru_stime,
        "cpu_workers": children.ru_utime + children.ru_stime,
    }


def busy() -> tuple[int, int]:
    """(busy, total) jiffies of all cores so far (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def postgres_cpu() -> float:
    """CPU seconds of the local PostgreSQL server so far: every ``postgres`` process, with the
    children it reaped (the backends of workers that already disconnected)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name, _, rest = text.partition(") ")
        if name.endswith("(postgres"):
            fields = rest.split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def sample(path: Path, rows: int) -> None:
    if path.exists():
        with sqlite3.connect(path) as db:
            if db.execute("SELECT COUNT(*) FROM hj_resident").fetchone()[0] == rows:
                return
        path.unlink()
    from govconnect_household import create_sample_database

    started = time.perf_counter()
    create_sample_database(f"sqlite:///{path}", count=rows, chunk=20_000)
    print(f"sample table: {rows:,} rows in {time.perf_counter() - started:.0f} s")


def run(opts: argparse.Namespace, engine: str, workers: int, work: Path) -> dict[str, float]:
    schema = None
    if engine == "sqlite":
        location = str(work / f"outbox-{uuid.uuid4().hex}.sqlite")
    else:
        schema = f"bench_pub_{uuid.uuid4().hex[:10]}"
        location = f"{opts.postgres}?schema={schema}"
    cmd = [sys.executable, __file__, "--role", "publish", "--db", str(opts.db)]
    cmd += ["--location", location, "--workers", str(workers), "--batch", str(opts.batch)]
    cmd += ["--rejects", str(work / "rejects")]
    try:
        before, server = busy(), postgres_cpu()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        after, server = busy(), postgres_cpu() - server
    finally:
        if schema:
            import psycopg

            with psycopg.connect(opts.postgres, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        elif Path(location).exists():
            for leftover in work.glob(Path(location).name + "*"):  # -wal, .publish-locks/
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                else:
                    leftover.unlink()
    if proc.returncode != 0:
        raise SystemExit(f"{engine} x{workers} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["machine_busy"] = (after[0] - before[0]) / max(after[1] - before[1], 1)
    result["cpu_postgres"] = server
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--engines", default="postgresql")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("GOVCONNECT_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1/test"),
    )
    parser.add_argument("--db", type=Path)
    parser.add_argument("--role", choices=["publish"])
    parser.add_argument("--location")
    parser.add_argument("--rejects")
    opts = parser.parse_args()
    if opts.role == "publish":
        workers = int(opts.workers)
        print(json.dumps(publish(str(opts.db), opts.location, workers, opts.batch, opts.rejects)))
        return
    counts = [int(n) for n in opts.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        opts.db = opts.db or work / "household.sqlite"
        sample(opts.db, opts.rows)
        results: dict[tuple[str, int], dict[str, float]] = {}
        print(
            f"{'':16}{'rows/s':>10}{'seconds':>9}{'CPU publisher':>15}{'CPU workers':>13}"
            f"{'CPU postgres':>14}{'cores busy':>12}"
        )
        for engine in opts.engines.split(","):
            for n in counts:
                r = run(opts, engine, n, work)
                assert r["read"] == r["published"] == opts.rows, r
                results[engine, n] = r
                print(
                    f"{engine + ' x' + str(n):16}{r['read'] / r['seconds']:>10,.0f}"
                    f"{r['seconds']:>9.1f}{r['cpu_publisher']:>14.1f}s{r['cpu_workers']:>12.1f}s"
                    f"{r['cpu_postgres']:>13.1f}s{r['machine_busy']:>11.0%}"
                )
    print(
        f"\n{opts.rows:,} rows, batches of {opts.batch}, {os.cpu_count()} cores,"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    for engine in opts.engines.split(","):
        one = results[engine, counts[0]]["seconds"]
        for n in counts[1:]:
            ratio = one / results[engine, n]["seconds"]
            print(f"{engine} x{n} / x{counts[0]}: {ratio:.2f}x")
    print(
        "\nCPU postgres counts the whole local server (other users' work too, on a shared machine)."
        " 'cores busy' is the machine's, not only this benchmark's."
    )
    print(
        "\nWhat limits it: the CPU. Each worker is CPU-bound in Python (validating, encoding and"
        " fingerprinting a record hold the GIL: hence processes, not threads), and the PostgreSQL"
        " server spends CPU on every committed batch and its fingerprints: about 80 CPU-seconds"
        " per million rows in all, two thirds in the workers. One worker leaves the second core"
        " mostly idle (it waits for each commit, the server waits for the next batch); two keep"
        " both busy, so on 2 cores x2 approaches the CPU cap (see 'cores busy') and cannot pass"
        " 2x; on a loaded machine the ratio drops with the share of the cores it gets. With a"
        " core per worker plus the server's share, expect close to N x until the server's commit"
        " rate or the legacy database's read rate is the limit. On a SQLite outbox the workers"
        " take turns on the file's write lock: correct, not faster."
    )


if __name__ == "__main__":
    main()
