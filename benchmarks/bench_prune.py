"""What pruning ``outbox_targets`` costs and saves on a PostgreSQL outbox.

Every case is a target of its own (its statuses go out in order). Without pruning, each delivered
case leaves its row in ``outbox_targets`` forever and every later claim's candidate scan walks it;
with pruning, each settle spends two more statements on its targets. Measured without a platform
(the cost is the outbox's own): claim up to 50 batches, settle them, repeat until empty.

* cost: a round of case statuses claimed and settled, pruning on and off (alternating trials,
  the median of each);
* saving: the same round behind a history of empty targets (what a year of cases left behind),
  then after ``purge`` swept them.

    python benchmarks/bench_prune.py [--cases 500] [--trials 5] [--history 200000]
                                     [--postgres postgresql://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from govconnect import Outbox
from govconnect.exchange.outbox import pg_claims


def one_round(outbox: Outbox, cases: int, tag: str) -> float:
    """Seconds to claim and settle ``cases`` statuses enqueued beforehand (not timed)."""
    for i in range(cases):
        outbox.enqueue_status(f"{tag}-{i}", "accepted")
    began = time.perf_counter()
    while batches := outbox.claim_many("bench", 50, lease=60):
        outbox.mark_delivered_many([(b, False) for b in batches])
    return time.perf_counter() - began


@contextmanager
def fresh_outbox(url: str) -> Iterator[Outbox]:
    schema = f"bench_prune_{uuid.uuid4().hex[:8]}"
    try:
        with Outbox(f"{url}?schema={schema}") as outbox:
            yield outbox
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def pruning(on: bool) -> Iterator[None]:
    real = pg_claims.prune_targets
    if not on:
        pg_claims.prune_targets = lambda conn, targets=None: 0  # type: ignore[assignment]
    try:
        yield
    finally:
        pg_claims.prune_targets = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1/test")
    args = parser.parse_args()

    times: dict[bool, list[float]] = {True: [], False: []}
    with fresh_outbox(args.postgres) as outbox:
        for trial in range(args.trials):
            for on in (False, True):
                with pruning(on):
                    times[on].append(one_round(outbox, args.cases, f"t{trial}{on:d}"))
                outbox.purge(0)  # each trial starts from no targets left behind
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"cost: {args.cases} statuses claimed and settled, median of {args.trials} trials:")
    print(f"  without pruning {off:.3f} s, with pruning {on:.3f} s (x{on / off:.2f})")

    with fresh_outbox(args.postgres) as outbox:
        outbox.write_state(
            lambda conn: conn.execute(
                "INSERT INTO outbox_targets SELECT 'status', 'old-' || n"
                " FROM generate_series(1, %s) AS n",
                (args.history,),
            )
        )
        with pruning(False):  # both rounds alike: only the history differs
            behind = one_round(outbox, args.cases, "behind")
        began = time.perf_counter()
        outbox.purge(0)
        swept = time.perf_counter() - began
        with pruning(False):
            after = one_round(outbox, args.cases, "after")
    print(f"saving: the same round behind {args.history:,} empty targets left by earlier cases:")
    print(f"  {behind:.3f} s; after purge swept them ({swept:.1f} s) {after:.3f} s")
    print(f"  (x{behind / after:.1f} faster pruned)")


if __name__ == "__main__":
    main()
