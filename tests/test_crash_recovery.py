"""kill -9 at any instant loses nothing and applies nothing twice; several processes share an outbox.

Delivery runs in subprocesses against a mock platform in this process; the test SIGKILLs them
mid-drain, restarts, and finally counts what the platform applied: every record exactly once.
"""

from __future__ import annotations

import collections
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from govconnect import ExchangeClient, Outbox
from govconnect.testing import DEFAULT_NODE, MockPlatform

CODE = "111112001/2001"

DRAIN = f"""
import sys
from govconnect import DeliveryWorker, ExchangeClient, Outbox, RetryPolicy
url, token, path, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = ExchangeClient(url, token=token, node="{DEFAULT_NODE}", user_id="crash-test", timeout=0.5,
                        retry=None)
policy = RetryPolicy(max_attempts=1000, deadline=600, initial=0.005, max_wait=0.05, jitter=0.005)
with Outbox(path) as outbox:
    DeliveryWorker(outbox, client, policy=policy, batch_size=25, lease=0.75).drain(
        timeout=60, threads=threads
    )
"""

ENQUEUE = f"""
import sys
from govconnect import Outbox
with Outbox(sys.argv[1], batch_size=50) as outbox:  # four rows per call
    n = 0
    while True:
        ids = outbox.enqueue("{CODE}", [{{"id": n + i}} for i in range(200)])
        n += 200
        print(ids[-1], flush=True)  # the last row id: acknowledged rows
"""


def spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE)


def start_platform(faults: str) -> MockPlatform:
    platform = MockPlatform(faults=faults, seed=99).start()
    platform.set_faults(retry_after=0.01, latency=0.003)
    client = ExchangeClient(
        platform.url, token=platform.token, node=DEFAULT_NODE, user_id="u", retry=None
    )
    for _ in range(50):  # the profile may fail the registration itself; bounded
        try:
            client.put_resource({"code": CODE, "version": 1})
            break
        except Exception:
            continue
    client.close()
    return platform


def wait_for_progress(path: str, *, below: int, timeout: float) -> None:
    """Poll the outbox (read-only) until fewer than ``below`` records are pending, or time out."""
    deadline = time.monotonic() + timeout
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        while time.monotonic() < deadline:
            if conn.execute("SELECT coalesce(sum(records), 0) FROM outbox").fetchone()[0] < below:
                return
            time.sleep(0.02)
    finally:
        conn.close()


def assert_exactly_once(platform: MockPlatform, outbox: Outbox, total: int) -> None:
    applied = collections.Counter(platform.application_counts(CODE))
    assert outbox.pending() == 0 and outbox.dead_letters() == []
    assert len(applied) == total, f"lost {total - len(applied)}"
    assert max(applied.values()) == 1, "a record was applied twice"


@pytest.mark.slow
def test_sigkill_mid_drain_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    total = 3000
    path = str(tmp_path / "outbox.sqlite")
    with Outbox(path, batch_size=25) as outbox:  # 120 rows, each a request: many to kill amid
        outbox.enqueue(CODE, [{"id": i, "payload": "x" * 50} for i in range(total)])
    platform = start_platform("flaky")
    rng = random.Random(7)
    kills = 0
    pending: list[int] = []
    try:
        args = [DRAIN, platform.url, platform.token, path, "2"]
        for _ in range(5):
            before = pending[-1] if pending else total
            proc = spawn(*args)
            # Kill at a random instant after this run has made progress (bounded wait).
            wait_for_progress(path, below=before, timeout=20)
            time.sleep(rng.uniform(0.0, 0.15))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
            proc.stdout.close()
            with Outbox(path) as outbox:
                pending.append(outbox.pending())
        final = spawn(*args)
        final.wait(timeout=90)
        final.stdout.close()
        assert final.returncode == 0
        with Outbox(path) as outbox:
            assert_exactly_once(platform, outbox, total)
        assert kills >= 3, "the drain finished before the kills: make it longer"
        killed_mid_drain = [n for n in pending if 0 < n < total]
        assert len(set(killed_mid_drain)) >= 2, pending  # progress between kills, not yet done
        assert platform.duplicates_refused > 0  # re-sends of killed batches were refused by key
    finally:
        platform.stop()


@pytest.mark.slow
def test_several_processes_drain_one_outbox_without_double_sends(tmp_path: Path) -> None:
    total = 3000
    path = str(tmp_path / "outbox.sqlite")
    with Outbox(path, batch_size=25) as outbox:
        for start in range(0, total, 500):
            outbox.enqueue(CODE, [{"id": i} for i in range(start, start + 500)])
    platform = start_platform("none")
    try:
        procs = [spawn(DRAIN, platform.url, platform.token, path, "2") for _ in range(3)]
        for proc in procs:
            proc.wait(timeout=90)
            proc.stdout.close()
            assert proc.returncode == 0
        with Outbox(path) as outbox:
            assert_exactly_once(platform, outbox, total)
        assert platform.duplicates_refused == 0  # no batch was ever sent twice
    finally:
        platform.stop()


@pytest.mark.slow
def test_sigkill_while_enqueueing_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    path = str(tmp_path / "outbox.sqlite")
    Outbox(path).close()
    for round_ in range(3):
        proc = spawn(ENQUEUE, path)
        acknowledged = 0
        deadline = time.monotonic() + 10
        while acknowledged < 40 * (round_ + 1) and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acknowledged = int(line)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        present = conn.execute("SELECT count(*) FROM outbox WHERE id <= ?", (acknowledged,))
        assert present.fetchone()[0] == acknowledged
        conn.close()
    with Outbox(path) as outbox:
        count = outbox.pending()
        assert count % 200 == 0  # whole enqueue calls only: nothing half-written
