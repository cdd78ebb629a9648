"""Queueing N correction notices in the outbox: seconds for the first run and for a rerun (every
id known), against bare sqlite3 inserting the same rows.

``send_corrections`` hands the outbox its notices 1,000 at a time
(``Outbox.enqueue_corrections``), each chunk one transaction that holds the outbox's write lock
(SQLite) or its advisory lock (PostgreSQL) while it looks up which ids the outbox already holds
and inserts the new ones. This measures that path with notices shaped like real ones (about
600 bytes of JSON each):

1. govconnect, first run: N new notices into an empty outbox;
2. govconnect, rerun: the same N again (all known: nothing queued);
3. baseline: bare ``sqlite3`` inserting N (key, payload) rows into a table keyed by the id, in
   transactions of 1,000, with ``synchronous=FULL`` as the outbox commits.

    python benchmarks/bench_notices.py [--sizes 20000,80000] [--postgres URL]

With ``--postgres`` (``postgresql://user@host/db``) the two govconnect runs are repeated on a
PostgreSQL outbox in a schema of their own, dropped afterwards. Each line also gives the bytes per
notice of ``outbox_notices`` (the ids ever queued, never purged), index included.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

from govconnect import Outbox

CHUNK = 1000
TARGETS = ("111112001/9002", "111112001/9003")


def notices(n: int) -> Iterator[tuple[str, str, bytes]]:
    """``(notice id, disputed resource code, notice JSON)`` for N distinct disputes."""
    for i in range(n):
        nid = hashlib.sha256(str(i).encode()).hexdigest()[:32]
        target = TARGETS[i % 2]
        notice = {
            "notice_id": nid,
            "key_type": "citizen_id",
            "key": f"11010519900101{i:04d}",
            "element": "姓名",
            "authoritative": {
                "resource_code": "111112001/9001",
                "department_code": "11010500000",
                "department_name": "公安局户籍管理",
                "value": "张伟",
            },
            "disputed": {
                "resource_code": target,
                "department_code": "11010500001",
                "department_name": "民政局",
                "value": "张伟某",
            },
            "detected_at": "2026-12-01T00:00:00+00:00",
        }
        yield nid, target, orjson.dumps(notice)


def queue(outbox: Outbox, n: int) -> tuple[float, int]:
    """Seconds to queue N notices in chunks as ``send_corrections`` does, and how many were new."""
    rows = list(notices(n))
    start = time.perf_counter()
    queued = 0
    for at in range(0, n, CHUNK):
        queued += len(outbox.enqueue_corrections(rows[at : at + CHUNK], user_id="bench"))
    return time.perf_counter() - start, queued


def baseline(folder: Path, n: int) -> float:
    rows = [(nid, payload) for nid, _, payload in notices(n)]
    db = sqlite3.connect(folder / "bare.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE n (id TEXT PRIMARY KEY, payload BLOB NOT NULL)")
    start = time.perf_counter()
    for at in range(0, n, CHUNK):
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT OR IGNORE INTO n VALUES (?, ?)", rows[at : at + CHUNK])
        db.execute("COMMIT")
    seconds = time.perf_counter() - start
    db.close()
    return seconds


_SIZE = {
    True: "SELECT sum(pgsize) FROM dbstat WHERE name = 'outbox_notices'",
    False: "SELECT pg_total_relation_size('outbox_notices')",
}


def measure(location: str, n: int) -> tuple[float, float, float]:
    """Seconds of the first run and of the rerun, and bytes per notice that the table of queued
    notice ids takes (with its index)."""
    with Outbox(location) as outbox:
        first, queued = queue(outbox, n)
        again, requeued = queue(outbox, n)
        try:
            [(size,)] = outbox.read(_SIZE[outbox.is_file])
        except Exception:  # a govconnect from before the table (measuring "before")
            size = None
    size = float("nan") if size is None else size
    assert (queued, requeued) == (n, 0), (queued, requeued)
    return first, again, size / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,80000")
    parser.add_argument("--postgres", help="also on a PostgreSQL outbox at this URL")
    args = parser.parse_args()
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            first, again, per = measure(str(Path(tmp) / "outbox.sqlite"), n)
            bare = baseline(Path(tmp), n)
        print(
            f"N={n:>7,} sqlite   first run {first:6.2f} s  rerun {again:6.2f} s"
            f"  bare sqlite3 {bare:5.2f} s  ratio {first / bare:5.1f}x"
            f"  outbox_notices {per:.0f} B/notice",
            flush=True,
        )
        if args.postgres:
            schema = f"bench_notices_{uuid.uuid4().hex[:8]}"
            try:
                first, again, per = measure(f"{args.postgres}?schema={schema}", n)
            finally:
                import psycopg

                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            print(
                f"N={n:>7,} postgres first run {first:6.2f} s  rerun {again:6.2f} s"
                f"  outbox_notices {per:.0f} B/notice",
                flush=True,
            )


if __name__ == "__main__":
    main()
