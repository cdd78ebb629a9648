"""Gateway throughput with the audit log on PostgreSQL, 1 and 2 worker processes, against the
SQLite audit log in one process (today's default).

Each server is the real ``govconnect serve`` (``--workers N``, ``--audit-log``) over the same
household database and gateway file, driven by the same load generator as
``bench_gateway.py`` (``wrk`` when installed, else an httpx pool), alternating rounds so that
background load hits all alike. Nothing is pinned: two workers need both CPUs of a small machine,
and share them with the load generator. Prints requests/s of each, then the ratios PostgreSQL 1
worker / SQLite and 2 workers / 1 worker, and verifies the PostgreSQL chain the runs produced.

    python benchmarks/bench_gateway_scale.py [--seconds 5] [--connections 16] [--rounds 3]
                                             [--pg postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from bench_gateway import (
    DEPARTMENT,
    PURPOSE,
    TOKEN,
    free_port,
    paths_for,
    run_httpx,
    run_wrk,
)

KEY = "be" * 32  # 32 bytes of key material as hex, the rule's least (not secret)
EXE = Path(sys.executable).with_name("govconnect")


def gateway_file(work: Path, db_url: str) -> Path:
    from govconnect import hash_token

    path = work / "gateway.toml"
    path.write_text(
        f'[connectors.household]\nurl = "{db_url}"\n\n[[consumers]]\n'
        f'department = "{DEPARTMENT}"\nname = "朝阳区民政局"\n'
        f'token_hashes = ["{hash_token(TOKEN)}"]\nservices = ["household.resident"]\n'
        f'max_level = "sensitive"\npurposes = ["{PURPOSE}"]\n',
        encoding="utf-8",
    )
    return path


def ready(proc: subprocess.Popen[str], workers: int, timeout: float = 120) -> None:
    """Wait until every worker process has started its app (uvicorn logs "Application startup
    complete." once per process): ``serve`` binds its port before the workers exist, and a
    worker still starting would take its CPU from the measured run."""
    assert proc.stderr is not None
    started = 0
    deadline = time.monotonic() + timeout
    while started < workers and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            raise SystemExit(f"govconnect serve exited with {proc.returncode}")
        started += "Application startup complete" in line
    if started < workers:
        raise SystemExit(f"govconnect serve was not ready in {timeout}s")
    threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained


def measure(
    label: str, audit: str, workers: int, args: argparse.Namespace, work: Path, ids: list[str]
) -> float:
    port = free_port()
    env = {**os.environ, "GOVCONNECT_AUDIT_KEY": KEY}
    proc = subprocess.Popen(
        [
            *(str(EXE), "serve", "--config", str(work / "gateway.toml"), "--port", str(port)),
            *("--workers", str(workers), "--audit-log", audit, "--log-level", "info"),
        ],
        cwd=work,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        ready(proc, workers)
        paths = paths_for("gateway", ids)
        use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk"))
        # warm up: every worker's connections, threads and caches
        if use_wrk:
            run_wrk(base, paths, 2, args.connections, work)
            rps, total, errors = run_wrk(base, paths, args.seconds, args.connections, work)
        else:
            run_httpx(base, paths, 2, args.connections, None)
            rps, total, errors = run_httpx(base, paths, args.seconds, args.connections, None)
        gen = "wrk" if use_wrk else "httpx"
        print(f"{label:18} {rps:8.0f} req/s  ({total} requests, {errors} non-200, {gen})")
        if errors:
            raise SystemExit(f"{label}: {errors} requests were not answered 200")
        return rps
    finally:
        proc.terminate()
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    import psycopg
    from govconnect_household import create_sample_database

    from govconnect import AuditLog

    schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
    pg_audit = f"{args.pg}?schema={schema}"
    with tempfile.TemporaryDirectory(prefix="bench-gateway-scale-") as tmp:
        work = Path(tmp)
        db_url = f"sqlite:///{work / 'household.sqlite'}"
        create_sample_database(db_url, count=args.residents)
        gateway_file(work, db_url)
        ids = [
            r[0]
            for r in sqlite3.connect(work / "household.sqlite").execute(
                "SELECT gmsfhm FROM hj_resident ORDER BY random() LIMIT 500"
            )
        ]
        print(
            f"gateway, household resident lookup: {args.connections} connections, "
            f"{args.seconds:g}s per run, {os.cpu_count()} CPU(s), audit key from the environment"
        )
        runs: dict[str, list[float]] = {"sqlite": [], "pg1": [], "pg2": []}
        try:
            for _ in range(args.rounds):
                sqlite_audit = str(work / "audit.sqlite")
                runs["sqlite"].append(
                    measure("SQLite, 1 process", sqlite_audit, 1, args, work, ids)
                )
                runs["pg1"].append(measure("PostgreSQL, 1 worker", pg_audit, 1, args, work, ids))
                runs["pg2"].append(measure("PostgreSQL, 2 workers", pg_audit, 2, args, work, ids))
            sqlite_rps, pg1, pg2 = (statistics.median(runs[k]) for k in ("sqlite", "pg1", "pg2"))
            print(
                f"median   SQLite 1 process {sqlite_rps:.0f}, PostgreSQL 1 worker {pg1:.0f}, "
                f"2 workers {pg2:.0f} req/s"
            )
            print(f"ratio    PostgreSQL 1 worker / SQLite 1 process: {pg1 / sqlite_rps:.2f}x")
            print(f"ratio    PostgreSQL 2 workers / 1 worker:        {pg2 / pg1:.2f}x")
            print(f"ratio    PostgreSQL 2 workers / SQLite 1 process: {pg2 / sqlite_rps:.2f}x")
            os.environ["GOVCONNECT_AUDIT_KEY"] = KEY
            with AuditLog(pg_audit, readonly=True) as log:
                report = log.verify()
            print(f"audit    PostgreSQL chain intact: {report.records} records from all runs")
        finally:
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


if __name__ == "__main__":
    main()
