"""Outbox enqueue vs a bare sqlite3 executemany into an equivalent table, side by side.

Both sides serialise the same records with orjson and write them in one transaction to a WAL-mode
file with the same ``synchronous`` setting. The bare side is the baseline the issue names: one row
per record (``executemany``), no validation, no event. The outbox checks every record against the
contract and stores them 500 to a row (a chunk: the records' JSON joined, ready to send), which is
why it writes several times faster than a row per record. Target: >= 0.8x.

    python benchmarks/bench_outbox.py [--records 100000] [--repeat 7] [--synchronous FULL]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from _records import make_records

from govconnect import Outbox

CODE = "111112001/2001"
BARE_TABLE = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, operation TEXT NOT NULL, target TEXT NOT NULL, payload BLOB NOT NULL,
    user_id TEXT, case_id TEXT, created_at REAL NOT NULL, next_attempt_at REAL NOT NULL
)
"""


def bare(path: Path, records: list[dict[str, Any]], synchronous: str) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(BARE_TABLE)
    started = time.perf_counter()
    now = time.time()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(
        "INSERT INTO outbox (operation, target, payload, user_id, case_id, created_at,"
        " next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (("publish", CODE, orjson.dumps(r), "officer-1", None, now, now) for r in records),
    )
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def outbox(path: Path, records: list[dict[str, Any]], synchronous: str) -> float:
    with Outbox(path, synchronous=synchronous) as box:
        started = time.perf_counter()
        ids = box.enqueue(CODE, records, user_id="officer-1")
        elapsed = time.perf_counter() - started
        assert len(ids) == -(-len(records) // box.batch_size) and box.pending() == len(records)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--synchronous", default="FULL", choices=["OFF", "NORMAL", "FULL"])
    args = parser.parse_args()
    records = make_records(args.records)
    times: dict[str, list[float]] = {"bare": [], "outbox": []}
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.repeat):
            # Alternate which side goes first, and compare within a round: the machine's load
            # drifts, and a ratio of neighbours is steadier than a ratio of bests.
            order = [("bare", bare), ("outbox", outbox)][:: 1 if run % 2 == 0 else -1]
            for name, fn in order:
                times[name].append(
                    fn(Path(tmp) / f"{name}-{run}.sqlite", records, args.synchronous)
                )
            ratios.append(times["bare"][-1] / times["outbox"][-1])
    best = {name: min(values) for name, values in times.items()}
    rate = {name: args.records / seconds for name, seconds in best.items()}
    ratio = statistics.median(ratios)
    print(f"enqueue {args.records} records, synchronous={args.synchronous}, {args.repeat} rounds")
    print(
        f"  bare sqlite3 executemany : best {best['bare']:.3f}s  {rate['bare']:>10,.0f} records/s"
    )
    print(
        f"  govconnect Outbox.enqueue: best {best['outbox']:.3f}s  {rate['outbox']:>10,.0f} records/s"
    )
    print(
        f"  ratio outbox/bare        : median {ratio:.2f}x, best-vs-best"
        f" {rate['outbox'] / rate['bare']:.2f}x  (target >= 0.80x)"
        f" {'OK' if ratio >= 0.8 else 'BELOW TARGET'}"
    )


if __name__ == "__main__":
    main()
