"""Many delivery workers in many processes on one PostgreSQL outbox: SIGKILL a random worker again
and again, pause one (SIGSTOP) past its lease; every record reaches the platform exactly once and
in order per target, and a worker whose lease ran out settles nothing and re-sends nothing.

The platform is the mock (a real HTTP server) in this process; it counts what it applied and the
duplicates it refused. Every wait is bounded.
"""

from __future__ import annotations

import collections
import json
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from govconnect import ExchangeClient, Outbox
from govconnect.testing import DEFAULT_NODE, MockPlatform
from tests.outbox_support import outbox_location

psycopg = pytest.importorskip("psycopg")  # the postgres extra (installed with dev)

CODES = [f"111112001/200{i}" for i in range(1, 5)]

WORKER = f"""
import json, sys
from govconnect import DeliveryWorker, ExchangeClient, Outbox, RetryPolicy
url, token, location, lease, batch_size = sys.argv[1:6]
client = ExchangeClient(url, token=token, node="{DEFAULT_NODE}", user_id="scale-test", timeout=2,
                        retry=None)
policy = RetryPolicy(max_attempts=1000, deadline=600, initial=0.005, max_wait=0.05, jitter=0.005)
with Outbox(location) as outbox:
    worker = DeliveryWorker(outbox, client, policy=policy, batch_size=int(batch_size),
                            lease=float(lease), prefetch=8)
    stats = worker.drain(timeout=40, idle_poll=0.5)
print(json.dumps({{"stale": stats.stale, "delivered": stats.batches_delivered,
                  "duplicates": stats.duplicates}}), flush=True)
"""


@pytest.fixture
def location(tmp_path: Path) -> Iterator[str]:
    with outbox_location("postgresql", tmp_path) as url:
        yield url


def start_platform(faults: str, latency: float) -> MockPlatform:
    # the order check reads every record applied, so the mock keeps them all (its default keeps
    # the last 1,000 per resource)
    platform = MockPlatform(faults=faults, seed=15, history=100_000).start()
    platform.set_faults(retry_after=0.01, latency=latency)
    client = ExchangeClient(
        platform.url, token=platform.token, node=DEFAULT_NODE, user_id="u", retry=None
    )
    for code in CODES:
        for _ in range(50):  # the profile may fail the registration itself; bounded
            try:
                client.put_resource({"code": code, "version": 1})
                break
            except Exception:
                continue
    client.close()
    return platform


def fill(location: str, total: int, batch_size: int) -> None:
    """``total`` records (a multiple of 20 batches) spread over the targets in interleaved
    enqueues of five batches; ids rise per target."""
    assert total % (5 * batch_size * len(CODES)) == 0
    with Outbox(location, batch_size=batch_size) as outbox:
        per_call = 5 * batch_size
        for start in range(0, total, per_call * len(CODES)):
            for n, code in enumerate(CODES):
                first = start + n * per_call
                outbox.enqueue(code, [{"id": i} for i in range(first, first + per_call)])


def wait_until(condition: Callable[[], bool], deadline: float) -> None:
    """Poll ``condition`` every 10 ms until it holds or the (monotonic) deadline passes."""
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def counter(location: str) -> Callable[[], int]:
    """Batches delivered so far, read straight from the outbox's schema."""
    url, _, query = location.partition("?schema=")
    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)

    def delivered() -> int:
        return conn.execute(f"SELECT count(*) FROM {query}.outbox_delivered").fetchone()[0]

    return delivered


def query(location: str, sql: str) -> list[tuple]:
    """Rows of ``sql`` (``{schema}`` replaced by the outbox's schema), read straight from it."""
    url, _, schema = location.partition("?schema=")
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(sql.format(schema=schema)).fetchall()


def spawn(platform: MockPlatform, location: str, lease: float, batch_size: int) -> subprocess.Popen:
    args = [WORKER, platform.url, platform.token, location, str(lease), str(batch_size)]
    return subprocess.Popen([sys.executable, "-c", *args], stdout=subprocess.PIPE)


def finish(procs: list[subprocess.Popen]) -> list[dict]:
    reports = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        if proc.returncode == 0:
            reports.append(json.loads(out.decode().strip().splitlines()[-1]))
    return reports


def assert_exactly_once_in_order(platform: MockPlatform, location: str, total: int) -> None:
    with Outbox(location) as outbox:
        assert outbox.pending() == 0 and outbox.dead_letters() == []
    counts = collections.Counter(
        {rid: n for code in CODES for rid, n in platform.application_counts(code).items()}
    )
    assert len(counts) == total, f"lost {total - len(counts)}"
    assert max(counts.values()) == 1, "a record was applied twice"
    for code in CODES:
        ids = [r["id"] for r in platform.records(code)]
        assert ids == sorted(ids), f"{code} applied out of order"


@pytest.mark.slow
def test_four_workers_sigkilled_at_random_lose_nothing_and_apply_nothing_twice(
    location: str,
) -> None:
    total, batch_size, lease = 50_000, 50, 1.5  # the figures: 50,000 records, 20 kills
    fill(location, total, batch_size)  # 1,000 batches over 4 targets
    platform = start_platform("flaky", latency=0.004)
    rng = random.Random(15)
    delivered = counter(location)
    kills = 0
    try:
        workers = [spawn(platform, location, lease, batch_size) for _ in range(4)]
        deadline = time.monotonic() + 35
        wait_until(lambda: delivered() >= 20, deadline)  # the workers are delivering
        at_kills = []
        while kills < 20 and time.monotonic() < deadline:
            before = delivered()
            if before >= 950:
                break
            time.sleep(rng.uniform(0.05, 0.2))  # a random instant of the drain
            slot = rng.randrange(len(workers))
            if workers[slot].poll() is None:
                workers[slot].send_signal(signal.SIGKILL)
                workers[slot].wait(timeout=10)
                workers[slot].stdout.close()
                kills += 1
                at_kills.append(delivered())
                workers[slot] = spawn(platform, location, lease, batch_size)
            wait_until(lambda b=before: delivered() >= b + 10, min(deadline, time.monotonic() + 5))
        finish(workers)
        if Outbox(location).pending():  # every worker gave up early: one more, bounded
            finish([spawn(platform, location, lease, batch_size)])
        assert_exactly_once_in_order(platform, location, total)
        mid_drain = [n for n in at_kills if 0 < n < total // batch_size]
        assert len(mid_drain) >= 15, f"kills mid-drain at {at_kills}: make the drain longer"
        print(
            f"kills {kills} (batches delivered at each: {at_kills}), records {total},"
            f" duplicates refused {platform.duplicates_refused}"
        )
    finally:
        platform.stop()


@pytest.mark.slow
def test_a_worker_paused_past_its_lease_settles_nothing_and_resends_nothing(
    location: str,
) -> None:
    total, batch_size, lease = 4_000, 20, 1.0
    fill(location, total, batch_size)
    platform = start_platform("none", latency=0.02)  # requests dominate: a pause lands mid-send
    delivered = counter(location)
    try:
        paused = spawn(platform, location, lease, batch_size)
        deadline = time.monotonic() + 15
        while delivered() < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        paused.send_signal(signal.SIGSTOP)
        time.sleep(0.2)  # let a claim in progress commit (or not) before looking
        held = query(location, "SELECT key, fence FROM {schema}.outbox_batches")
        assert held, "the paused worker held nothing: pause it later"
        other = spawn(platform, location, lease, batch_size)
        # The paused worker's leases run out; wait (bounded) until the other worker has
        # reclaimed or delivered every batch it held, under new fencing tokens.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = dict(query(location, "SELECT key, fence FROM {schema}.outbox_batches"))
            if not any(now.get(key) == fence for key, fence in held):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the other worker did not take over the paused worker's batches")
        paused.send_signal(signal.SIGCONT)
        reports = finish([paused, other])
        assert len(reports) == 2
        assert_exactly_once_in_order(platform, location, total)
        # The paused worker's late settles were refused (it had sent those batches before the
        # pause, or had one in flight; the other worker re-sent them, refused by key), and it
        # sent nothing after resuming: its queued batches, past their leases, went back unsent.
        stale = reports[0]["stale"]
        assert stale >= 1, reports
        assert platform.duplicates_refused <= stale
        print(f"stale settles {reports[0]['stale']}, duplicates {platform.duplicates_refused}")
    finally:
        platform.stop()


def test_an_idle_worker_is_woken_by_another_process_enqueue(location: str) -> None:
    """LISTEN/NOTIFY: a commit through another connection (as from another machine) wakes an
    idle waiter at once, long before its timeout."""
    with Outbox(location) as waiter, Outbox(location) as producer:
        waiter.wait_for_work(0.01)  # subscribe (and consume anything pending)
        woke: list[float] = []

        def wait() -> None:
            began = time.monotonic()
            waiter.wait_for_work(10)
            woke.append(time.monotonic() - began)

        import threading

        thread = threading.Thread(target=wait)
        thread.start()
        time.sleep(0.2)
        producer.enqueue(CODES[0], [{"id": 1}])
        thread.join(timeout=10)
        assert woke and woke[0] < 5, woke


def test_cli_takes_a_postgresql_url_and_never_shows_its_password(location: str) -> None:
    from typer.testing import CliRunner

    from govconnect.cli import outbox as outbox_cli

    with Outbox(location) as box:
        box.enqueue(CODES[0], [{"id": 1}, {"id": 2}])
    runner = CliRunner()
    result = runner.invoke(outbox_cli.outbox_app, ["status", "--path", location])
    assert result.exit_code == 0, result.output
    assert "pending" in result.output
    refused = "postgresql://someone:s3cret-pw@127.0.0.1:1/test"
    result = runner.invoke(outbox_cli.outbox_app, ["status", "--path", refused])
    assert result.exit_code == 1
    assert "s3cret-pw" not in result.output and "cannot open the outbox" in result.output
    assert "Traceback" not in result.output


def test_a_stale_claim_settles_nothing_and_says_so(location: str) -> None:
    clock = [1_000.0]
    with Outbox(location, clock=lambda: clock[0]) as box:
        box.enqueue(CODES[0], [{"id": 1}])
        stale = box.claim("paused", lease=1)
        clock[0] += 2
        fresh = box.claim("other", lease=30)
        assert fresh.key == stale.key and fresh.fence > stale.fence
        assert box.mark_delivered_many([(stale, False)]) == {stale.key}
        assert box.reschedule(stale, 5, "late") is False
        assert box.release(stale) is False
        assert box.bury(stale, "late") is None
        assert box.status().in_flight == 1  # still the other worker's
        assert box.mark_delivered_many([(fresh, False)]) == set()
        assert box.pending() == 0 and box.status().delivered_batches == 1


def test_workers_reconnect_when_the_server_drops_their_connections(location: str) -> None:
    """As in a server restart: every connection of the outbox is terminated mid-drain; the drain
    reconnects and finishes, every record applied exactly once."""
    import threading

    from govconnect import DeliveryWorker, RetryPolicy

    app = f"gc_drop_{uuid.uuid4().hex[:8]}"
    url = f"{location}&application_name={app}"
    total = 3_200  # whole rounds of fill()
    fill(url, total, 20)
    platform = start_platform("none", latency=0.005)
    client = ExchangeClient(
        platform.url, token=platform.token, node=DEFAULT_NODE, user_id="u", retry=None
    )
    policy = RetryPolicy(max_attempts=100, deadline=60, initial=0.005, max_wait=0.05)
    delivered = counter(location)
    try:
        with Outbox(url) as outbox:
            worker = DeliveryWorker(outbox, client, policy=policy, batch_size=20, lease=2)
            result: list[object] = []
            thread = threading.Thread(target=lambda: result.append(worker.drain(timeout=40)))
            thread.start()
            deadline = time.monotonic() + 15
            while delivered() < 10 and time.monotonic() < deadline:
                time.sleep(0.01)
            dropped = query(
                location,
                f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                f" WHERE application_name = '{app}'",
            )
            thread.join(timeout=45)
            assert not thread.is_alive() and result, "the drain did not finish"
        assert dropped, "no connection was dropped"
        assert_exactly_once_in_order(platform, location, total)
    finally:
        client.close()
        platform.stop()


def test_a_large_enqueue_keeps_its_order_in_rows_and_batches(location: str) -> None:
    """The chunk rows of one enqueue get ids in the records' order (one INSERT for them all)."""
    with Outbox(location, batch_size=7) as box:
        ids = box.enqueue(CODES[0], [{"id": i} for i in range(7 * 300 + 3)])
        assert list(ids) == sorted(ids) and len(ids) == 301
        seen: list[int] = []
        while batch := box.claim("w", batch_size=7):
            seen += [r["id"] for r in json.loads(b"[%b]" % batch.joined)]
            box.mark_delivered(batch)
        assert seen == list(range(7 * 300 + 3))


def targets(box: Outbox) -> list[tuple[str, str]]:
    return [tuple(r) for r in box.read("SELECT operation, target FROM outbox_targets ORDER BY 2")]


def test_settled_targets_are_pruned_so_the_claim_scan_stays_small(location: str) -> None:
    """Every case is a target of its own: once its statuses are delivered, its row in
    ``outbox_targets`` goes, rather than lengthening every later claim's candidate scan."""
    with Outbox(location) as box:
        for i in range(30):
            box.enqueue_status(f"C-{i}", "accepted")
        box.enqueue(CODES[0], [{"id": n} for n in range(5)])
        assert len(targets(box)) == 31
        while batches := box.claim_many("w", 10, lease=30):
            box.mark_delivered_many([(b, False) for b in batches])
        assert targets(box) == [] and box.pending() == 0
        box.enqueue_status("C-0", "completed")  # a target comes back with new work
        batch = box.claim("w", lease=30)
        assert batch is not None and batch.target == "C-0"


def test_a_target_an_enqueue_holds_is_not_pruned(location: str) -> None:
    """A settle meets a target whose enqueue has not committed yet: its lock is skipped (never
    waited for), the target stays, and the new row is claimed once committed."""
    with Outbox(location) as producer, Outbox(location, busy_timeout=2) as worker:
        producer.enqueue_status("C-1", "accepted")
        first = worker.claim("w", lease=30)
        assert first is not None
        with producer.transaction():
            producer.enqueue_status("C-1", "completed")  # holds C-1's target row, uncommitted
            started = time.monotonic()
            worker.mark_delivered(first)  # C-1 looks empty to the worker: but it is locked
            assert time.monotonic() - started < 1.5
        assert targets(worker) == [("status", "C-1")]
        second = worker.claim("w", lease=30)
        assert second is not None and second.target == "C-1" and second.span != first.span
        worker.mark_delivered(second)
        assert targets(worker) == []


def test_a_fenced_off_settle_prunes_nothing_and_purge_sweeps_dead_targets(location: str) -> None:
    clock = [1_000.0]
    with Outbox(location, clock=lambda: clock[0]) as box:
        box.enqueue_status("C-1", "accepted")
        stale = box.claim("paused", lease=1)
        clock[0] += 2
        fresh = box.claim("other", lease=30)
        assert box.mark_delivered_many([(stale, False)]) == {stale.key}
        assert targets(box) == [("status", "C-1")]  # the other worker's batch keeps it
        box.enqueue_status("C-2", "accepted")
        dead = box.claim("other", lease=30)
        assert dead is not None and box.bury(dead, "refused") is not None
        assert targets(box) == [("status", "C-1"), ("status", "C-2")]
        assert box.purge(0) == 0  # C-2 holds only a dead letter now: swept
        assert targets(box) == [("status", "C-1")]
        box.mark_delivered(fresh)
        assert targets(box) == []
        assert box.replay() == 1  # a replay registers its target again
        again = box.claim("other", lease=30)
        assert again is not None and again.key == dead.key
