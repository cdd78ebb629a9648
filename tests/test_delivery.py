"""The delivery worker: outcomes, durable retries, dead letters, events, concurrency, a fault soak."""

from __future__ import annotations

import collections
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from govconnect import (
    DeliveryWorker,
    EventKind,
    ExchangeClient,
    ExchangeEvent,
    Outbox,
    RetryPolicy,
    hookimpl,
    make_plugin_manager,
)
from govconnect.testing import DEFAULT_NODE, MockPlatform
from tests.outbox_support import ENGINES, engine_outbox, one_per_row

CODE = "111112001/2001"
FAST = RetryPolicy(max_attempts=200, deadline=120, initial=0.005, max_wait=0.05, jitter=0.005)


def client_for(platform: MockPlatform, **kw: Any) -> ExchangeClient:
    return ExchangeClient(
        platform.url,
        token=platform.token,
        node=DEFAULT_NODE,
        user_id="svc",
        timeout=5,
        retry=None,
        **kw,
    )


@pytest.fixture
def platform(mock_platform: MockPlatform) -> MockPlatform:
    client = client_for(mock_platform)
    for code in (CODE, "111112001/2002", "111112001/2003", "111112001/2004"):
        client.put_resource({"code": code, "version": 1})
    client.close()
    return mock_platform


@pytest.fixture(params=ENGINES)
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Outbox:
    """Records enqueued together share a row; see one_per_row for per-record rows. Each engine
    in turn (tests marked sqlite_only look inside the file)."""
    with engine_outbox(request, tmp_path, synchronous="NORMAL") as box:
        yield box


def kinds(events: list[ExchangeEvent]) -> list[str]:
    return [e.kind.value for e in events]


def test_delivers_and_reports(platform: MockPlatform, outbox: Outbox) -> None:
    events: list[ExchangeEvent] = []
    one_per_row(outbox, CODE, [{"id": i} for i in range(7)], user_id="officer-3", case_id="C-1")
    worker = DeliveryWorker(outbox, client_for(platform), batch_size=5, on_event=events.append)
    progress: list[int] = []
    stats = worker.drain(timeout=10, on_progress=lambda s: progress.append(s.records_delivered))
    assert (stats.batches_delivered, stats.records_delivered, stats.retries) == (2, 7, 0)
    assert progress[-1] == 7 and progress == sorted(progress)  # runs may be recorded together
    per_batch: dict[str, list[str]] = collections.defaultdict(list)
    for event in events:
        per_batch[event.message_id].append(event.kind.value)
    # Pipelined: batch 2 may be sent before batch 1's delivery is recorded, never before its send.
    assert list(per_batch.values()) == [["sent", "delivered"], ["sent", "delivered"]]
    assert kinds(events)[0] == "sent" and kinds(events).count("sent") == 2
    assert events[0].resource_code == CODE and events[0].case_id == "C-1" and events[0].records == 5
    assert platform.records_received == {CODE: 7}
    assert outbox.pending() == 0 and outbox.status().delivered_records == 7


def test_status_changes_are_delivered_in_order(platform: MockPlatform, outbox: Outbox) -> None:
    case = platform.enqueue_case()
    outbox.enqueue_status(case["case_id"], "accepted", user_id="officer-1")
    outbox.enqueue_status(case["case_id"], "in_progress")
    outbox.enqueue_status(case["case_id"], "completed", result={"licence": "L-9"})
    DeliveryWorker(outbox, client_for(platform)).drain(timeout=10, threads=3)
    history = platform.case_statuses[case["case_id"]]
    assert [h["status"] for h in history] == ["accepted", "in_progress", "completed"]
    assert history[-1]["result"] == {"licence": "L-9"}


def test_4xx_goes_to_dead_letters_with_the_platform_reason(
    platform: MockPlatform, outbox: Outbox
) -> None:
    events: list[ExchangeEvent] = []
    outbox.enqueue("999999999/9", [{"id": 1}])
    outbox.enqueue(CODE, [{"id": 2}])
    stats = DeliveryWorker(outbox, client_for(platform), on_event=events.append).drain(timeout=10)
    assert (stats.dead_lettered, stats.records_dead, stats.records_delivered) == (1, 1, 1)
    [letter] = outbox.dead_letters()
    assert letter.reason.startswith("rejected (422)")
    assert letter.problems[0].field == "resource_code"
    assert letter.attempts == 1
    dead = [e for e in events if e.kind is EventKind.DEAD_LETTERED]
    assert dead and dead[0].error.startswith("rejected (422)")
    # Fix the cause (register the resource), replay: delivered under the same key.
    client_for(platform).put_resource({"code": "999999999/9", "version": 1})
    assert outbox.replay() == 1
    DeliveryWorker(outbox, client_for(platform)).drain(timeout=10)
    assert platform.records_received["999999999/9"] == 1
    assert outbox.dead_letters() == []


def test_transient_failure_is_rescheduled_honouring_retry_after(
    platform: MockPlatform, outbox: Outbox
) -> None:
    events: list[ExchangeEvent] = []
    outbox.enqueue(CODE, [{"id": 1}])
    platform.set_faults(throttle_rate=1.0, retry_after=30)
    worker = DeliveryWorker(outbox, client_for(platform), on_event=events.append)
    assert worker.run_once() == 1
    assert kinds(events) == ["sent", "retried"]
    assert events[1].extra["delay"] == 30 and "429" in events[1].error
    assert 29 < outbox.next_due() - outbox.clock() <= 30
    assert worker.run_once() == 0
    assert outbox.status().waiting == 1


def test_retry_then_delivery_uses_one_key(platform: MockPlatform, outbox: Outbox) -> None:
    outbox.enqueue(CODE, [{"id": 1}])
    platform.set_faults(lost_response_rate=1.0)
    worker = DeliveryWorker(outbox, client_for(platform), policy=FAST)
    worker.run_once()
    platform.set_faults("none")
    stats = worker.drain(timeout=10)
    assert stats.duplicates == 1
    assert platform.records_received == {CODE: 1}
    assert platform.idempotency_keys == 1 and platform.duplicates_refused == 1


def test_deadline_sends_to_dead_letters(platform: MockPlatform, outbox: Outbox) -> None:
    outbox.enqueue(CODE, [{"id": 1}])
    platform.set_faults(error_rate=1.0)
    policy = FAST.with_(deadline=0.0)
    stats = DeliveryWorker(outbox, client_for(platform), policy=policy).drain(timeout=10)
    assert stats.dead_lettered == 1
    assert outbox.dead_letters()[0].reason.startswith("gave up after 1 attempt(s)")


def test_attempt_limit_sends_to_dead_letters(platform: MockPlatform, outbox: Outbox) -> None:
    outbox.enqueue(CODE, [{"id": 1}])
    platform.set_faults(error_rate=1.0)
    stats = DeliveryWorker(outbox, client_for(platform), policy=FAST.with_(max_attempts=3)).drain(
        timeout=10
    )
    assert (stats.retries, stats.dead_lettered) == (2, 1)
    assert outbox.dead_letters()[0].attempts == 3
    assert stats.errors == {"retryable:500": 3}


def test_unexpected_error_is_dead_lettered_not_looped(tmp_path: Path, outbox: Outbox) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("bug in a transport")

    client = ExchangeClient(
        "http://x",
        token="t",
        node=DEFAULT_NODE,
        user_id="u",
        transport=httpx.MockTransport(broken),
        retry=None,
    )
    outbox.enqueue(CODE, [{"id": 1}])
    stats = DeliveryWorker(outbox, client).drain(timeout=10)
    assert stats.dead_lettered == 1
    assert outbox.dead_letters()[0].reason.startswith("failed after 1 attempt(s): bug")


def test_events_reach_plugins_through_the_hook(platform: MockPlatform, outbox: Outbox) -> None:
    seen: list[tuple[str, int]] = []

    class Metrics:
        @hookimpl
        def exchange_event(self, event: ExchangeEvent) -> None:
            seen.append((event.kind.value, event.attempt))

    pm = make_plugin_manager(plugins=[Metrics()], entry_points_enabled=False)
    outbox.enqueue(CODE, [{"id": 1}])
    platform.set_faults(error_rate=1.0)
    worker = DeliveryWorker(outbox, client_for(platform), policy=FAST, pm=pm)
    worker.run_once()
    platform.set_faults("none")
    worker.drain(timeout=10)
    assert seen == [("sent", 1), ("retried", 1), ("sent", 2), ("delivered", 2)]


def test_drain_is_bounded_by_timeout_and_stop(platform: MockPlatform, outbox: Outbox) -> None:
    outbox.enqueue(CODE, [{"id": 1}])
    platform.set_faults(throttle_rate=1.0, retry_after=60)
    worker = DeliveryWorker(outbox, client_for(platform), policy=FAST)
    stats = worker.drain(timeout=0.3)
    assert stats.retries == 1 and 0.3 <= stats.seconds < 2
    stop = threading.Event()
    stop.set()
    assert worker.drain(stop=stop).seconds < 1
    assert outbox.pending() == 1


@pytest.mark.parametrize("rows_of", [1, 30], ids=["one-record-rows", "chunked-rows"])
def test_concurrent_threads_never_send_a_batch_twice(
    platform: MockPlatform, tmp_path: Path, rows_of: int
) -> None:
    codes = [CODE, "111112001/2002", "111112001/2003", "111112001/2004"]
    outbox = Outbox(tmp_path / "o.sqlite", synchronous="NORMAL", batch_size=rows_of)
    for n in range(20):
        outbox.enqueue(codes[n % 4], [{"id": f"{n}-{i}"} for i in range(100)])
    worker = DeliveryWorker(outbox, client_for(platform), batch_size=37)
    stats = worker.drain(timeout=60, threads=6)
    assert stats.records_delivered == 2000
    assert platform.duplicates_refused == 0  # no batch was ever sent twice
    assert sum(platform.records_received.values()) == 2000
    ids: collections.Counter[object] = collections.Counter()
    for code in codes:
        ids.update(platform.application_counts(code))  # adds the counts of ids met twice
    assert len(ids) == 2000 and max(ids.values()) == 1
    outbox.close()


@pytest.mark.slow
def test_soak_against_hostile_platform(tmp_path: Path) -> None:
    """A few thousand records through 'hostile': every one delivered, none applied twice."""
    with MockPlatform(faults="hostile", seed=20261121) as platform:
        platform.set_faults(retry_after=0.01)
        client = client_for(platform)
        client.retry = FAST
        client.put_resource({"code": CODE, "version": 1})
        client.retry = None
        with Outbox(tmp_path / "soak.sqlite", synchronous="NORMAL", batch_size=40) as outbox:
            for start in range(0, 4000, 400):
                outbox.enqueue(CODE, [{"id": i, "seq": i} for i in range(start, start + 400)])
            worker = DeliveryWorker(outbox, client, policy=FAST, lease=5)
            stats = worker.drain(timeout=60, threads=3)
            assert outbox.pending() == 0 and outbox.dead_letters() == []
        applied = collections.Counter(platform.application_counts(CODE))
        assert len(applied) == 4000 and max(applied.values()) == 1
        assert stats.records_delivered == 4000
        injected = platform.faults_injected
        assert injected["lost_response"] > 0 and injected["reset"] > 0 and injected["error"] > 0
        assert platform.duplicates_refused > 0  # lost responses made the keys matter


def scripted_client(
    answers: list[int], seen: list[tuple[str, list[int]]], on_request: Any = None
) -> ExchangeClient:
    """A client whose platform answers from a script of statuses, recording each batch's ids."""

    def handler(request: httpx.Request) -> httpx.Response:
        import orjson

        body = orjson.loads(request.content)
        seen.append((request.headers["Idempotency-Key"], [r["id"] for r in body["records"]]))
        if on_request is not None:
            on_request(len(seen))
        status = answers.pop(0) if answers else 200
        if status != 200:
            return httpx.Response(
                status,
                json={"error": "unavailable", "message": "x", "problems": []},
                headers={"Retry-After": "0.05"},
            )
        return httpx.Response(
            200,
            json={
                "resource_code": body["resource_code"],
                "accepted": len(body["records"]),
                "duplicate": False,
                "batch_id": "b",
            },
        )

    return ExchangeClient(
        "http://platform.test",
        token="t",
        node=DEFAULT_NODE,
        user_id="u",
        transport=httpx.MockTransport(handler),
        retry=None,
    )


def test_prefetched_batches_wait_behind_a_retry(outbox: Outbox) -> None:
    """Order per target holds when the first of several prefetched batches must be retried."""
    one_per_row(outbox, CODE, [{"id": i} for i in range(8)])
    outbox.enqueue("111112001/2002", [{"id": 100}])
    seen: list[tuple[str, list[int]]] = []
    worker = DeliveryWorker(
        outbox, scripted_client([503], seen), batch_size=2, prefetch=8, policy=FAST
    )
    stats = worker.drain(timeout=10)
    assert stats.records_delivered == 9 and stats.retries == 1
    first_batch = seen[0]
    of_code = [(key, ids) for key, ids in seen if ids[0] != 100]
    # the failed batch went first, then everything of its target strictly in order
    assert of_code[0] == first_batch and of_code[1][0] == first_batch[0]
    delivered_order = [ids for _, ids in of_code[1:]]
    assert delivered_order == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert outbox.pending() == 0


def test_stopping_gives_back_prefetched_batches(outbox: Outbox) -> None:
    one_per_row(outbox, CODE, [{"id": i} for i in range(10)])
    seen: list[tuple[str, list[int]]] = []
    stop = threading.Event()
    client = scripted_client([], seen, on_request=lambda n: n >= 2 and stop.set())
    worker = DeliveryWorker(outbox, client, batch_size=2, prefetch=5)
    worker.drain(stop=stop)
    assert outbox.status().delivered_records == 4
    assert outbox.status().in_flight == 0  # nothing stays leased to a worker that stopped
    DeliveryWorker(outbox, scripted_client([], seen), batch_size=2).drain(timeout=10)
    assert sorted(i for _, ids in seen for i in ids) == list(range(10))


def test_a_failed_settle_is_logged_and_the_batch_resent_under_its_key(
    platform: MockPlatform, outbox: Outbox, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    outbox.enqueue(CODE, [{"id": 1}])
    real = outbox.mark_delivered_many
    calls: list[int] = []

    def flaky_mark(delivered: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        real(delivered)

    monkeypatch.setattr(outbox, "mark_delivered_many", flaky_mark)
    DeliveryWorker(outbox, client_for(platform), lease=0.3).drain(timeout=10)
    assert outbox.pending() == 0 and len(calls) == 2
    assert platform.records_received == {CODE: 1} and platform.duplicates_refused == 1
    assert any("recording the outcome" in r.getMessage() for r in caplog.records)


def test_outbox_failures_are_retried_then_raised(
    platform: MockPlatform, outbox: Outbox, monkeypatch: Any
) -> None:
    outbox.enqueue(CODE, [{"id": 1}])
    real = outbox.claim_many
    failures = [sqlite3.OperationalError("database is locked")] * 2

    def claim_many(*args: Any, **kw: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(*args, **kw)

    monkeypatch.setattr(outbox, "claim_many", claim_many)
    slept: list[float] = []
    stats = DeliveryWorker(outbox, client_for(platform), sleep=slept.append).drain(timeout=10)
    assert stats.records_delivered == 1 and len(slept) >= 2

    def broken(*args: Any, **kw: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(outbox, "claim_many", broken)
    outbox.enqueue(CODE, [{"id": 2}])
    worker = DeliveryWorker(outbox, client_for(platform), sleep=lambda s: None)
    with pytest.raises(sqlite3.OperationalError):
        worker.drain(timeout=10)
    with pytest.raises(sqlite3.OperationalError):
        worker.drain(timeout=10, threads=3)


# --- delivering while a producer enqueues -----------------------------------------------------


def test_delivering_overlaps_the_producer_and_waits_for_its_last_records(
    platform: MockPlatform, tmp_path: Path
) -> None:
    with Outbox(tmp_path / "o.sqlite", synchronous="NORMAL", batch_size=50) as outbox:
        worker = DeliveryWorker(outbox, client_for(platform))
        with worker.delivering(idle_poll=5.0) as stats:
            outbox.enqueue(CODE, [{"id": i} for i in range(100)])
            for _ in range(500):  # bounded: delivered while the block is still running
                if platform.records_received.get(CODE, 0) == 100:
                    break
                threading.Event().wait(0.01)
            assert platform.records_received[CODE] == 100 and stats.records_delivered == 0
            # The worker is idle now; this enqueue wakes it at once (idle_poll is 5 s).
            outbox.enqueue(CODE, [{"id": i} for i in range(100, 250)])
        assert (stats.records_delivered, stats.batches_delivered) == (250, 5)
        assert stats.seconds < 4  # woken by the enqueue and by leaving, not by the 5 s poll
        assert outbox.pending() == 0 and platform.records_received[CODE] == 250


def test_leaving_delivering_by_an_exception_stops_and_keeps_the_rest(tmp_path: Path) -> None:
    seen: list[tuple[str, list[int]]] = []
    with Outbox(tmp_path / "o.sqlite", synchronous="NORMAL", batch_size=2) as outbox:
        worker = DeliveryWorker(outbox, scripted_client([503] * 10_000, seen), policy=FAST)
        with pytest.raises(ValueError, match="producer failed"), worker.delivering(timeout=30):
            outbox.enqueue(CODE, [{"id": i} for i in range(6)])
            for _ in range(500):  # bounded: the worker is retrying the first batch
                if seen:
                    break
                threading.Event().wait(0.01)
            raise ValueError("producer failed")
        assert outbox.pending() == 6 and outbox.status().in_flight == 0


def test_a_drain_that_fails_for_good_is_raised_when_leaving_delivering(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    outbox.enqueue(CODE, [{"id": 1}])
    monkeypatch.setattr(outbox, "claim_many", broken)
    worker = DeliveryWorker(outbox, scripted_client([], []), sleep=lambda s: None)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"), worker.delivering():
        pass
    assert "failed (5 in a row)" in caplog.text


def claims_asked(outbox: Outbox, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many batches each claim the worker makes asks for, in order."""
    asked: list[int] = []
    claim_many = outbox.claim_many

    def recording(owner: str, count: int, **kwargs: Any) -> Any:
        asked.append(count)
        return claim_many(owner, count, **kwargs)

    monkeypatch.setattr(outbox, "claim_many", recording)
    return asked


def test_slow_requests_shrink_how_far_the_worker_claims_ahead(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 50 ms a request and a 0.4 s lease, a quarter lease holds 2 sends: claims stay that small,
    so nothing queued outlives its lease and nothing is sent twice."""
    one_per_row(outbox, CODE, [{"id": i} for i in range(12)])
    asked = claims_asked(outbox, monkeypatch)
    seen: list[tuple[str, list[int]]] = []
    slow = scripted_client([], seen, on_request=lambda n: threading.Event().wait(0.05))
    worker = DeliveryWorker(outbox, slow, batch_size=1, lease=0.4, prefetch=32)
    stats = worker.drain(timeout=30)
    assert stats.records_delivered == 12 and outbox.pending() == 0
    assert asked[0] == 2 and max(asked[1:]) <= 2, asked
    assert len({key for key, _ in seen}) == len(seen) == 12  # no batch sent twice


def test_finished_drains_leave_no_outbox_connections_behind(
    platform: MockPlatform, outbox: Outbox
) -> None:
    """Helper and drain threads close their connections when they end: a service that drains
    again and again, or a producer that wakes an idle worker a hundred times, does not pile up
    SQLite connections (each with its page cache and file descriptors)."""
    client = client_for(platform)
    for n in range(5):
        outbox.enqueue(CODE, [{"id": f"{n}-{i}"} for i in range(10)])
        DeliveryWorker(outbox, client, batch_size=3).drain(timeout=10, threads=3)
    with DeliveryWorker(outbox, client).delivering():
        for n in range(20):
            outbox.enqueue(CODE, [{"id": f"w{n}"}])
            threading.Event().wait(0.005)  # let the worker go idle between enqueues
    assert outbox.pending() == 0 and platform.records_received[CODE] == 70
    assert len(outbox._conns) <= 2  # this thread's own two (durable and relaxed)


def test_batches_lost_track_of_after_a_failure_go_first_when_the_worker_goes_on(
    outbox: Outbox,
) -> None:
    """A progress callback that raises once, right after the helper claimed: the drain goes on,
    and the batches claimed then (leased to this worker, held by no pipeline) are reclaimed
    before anything later of their target, so the platform still sees the rows in order."""
    one_per_row(outbox, CODE, [{"id": i} for i in range(8)])
    seen: list[tuple[str, list[int]]] = []
    calls: list[int] = []

    def progress(stats: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("progress bar bug")

    worker = DeliveryWorker(outbox, scripted_client([], seen), batch_size=2, lease=30.0)
    worker.drain(timeout=10, on_progress=progress)
    order = [i for _, ids in seen for i in ids]
    assert sorted(set(order)) == list(range(8)) and outbox.pending() == 0
    first_seen = sorted(set(order), key=order.index)
    assert first_seen == list(range(8))  # nothing overtook the batches lost track of


def test_give_backs_behind_a_retry_finish_before_anything_is_claimed_again(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry due at once (no backoff) and a slow give-back of the batches queued behind it:
    the next claim must not run before the give-back, or it would take a batch whose lease the
    late give-back then clears, and that batch would go out twice."""
    one_per_row(outbox, CODE, [{"id": i} for i in range(4)])
    monkeypatch.setattr(RetryPolicy, "next_delay", lambda self, attempt, exc: 0.0)
    release = outbox.release

    def slow_release(batch: Any) -> None:
        threading.Event().wait(0.05)
        release(batch)

    monkeypatch.setattr(outbox, "release", slow_release)
    seen: list[tuple[str, list[int]]] = []
    slow = scripted_client([503], seen, on_request=lambda n: n > 1 and threading.Event().wait(0.1))
    stats = DeliveryWorker(outbox, slow, batch_size=1).drain(timeout=20)
    assert outbox.pending() == 0 and stats.batches_delivered == 4
    sends = collections.Counter(key for key, _ in seen)
    assert sorted(sends.values()) == [1, 1, 1, 2]  # only the retried batch twice
    assert [ids for _, ids in seen] == [[0], [0], [1], [2], [3]]


def test_large_batches_shrink_how_far_the_worker_claims_ahead(
    outbox: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claims ahead hold about _AHEAD_BYTES of payloads at most: with ~1 KB batches and a 2.5 KB
    budget, no claim asks for more than 2, however large prefetch is."""
    from govconnect.exchange.delivery import pipeline as _pipeline

    monkeypatch.setattr(_pipeline, "_AHEAD_BYTES", 2500)
    one_per_row(outbox, CODE, [{"id": i, "pad": "x" * 1000} for i in range(12)])
    asked = claims_asked(outbox, monkeypatch)
    stats = DeliveryWorker(outbox, scripted_client([], []), batch_size=1, prefetch=32).drain(
        timeout=10
    )
    assert stats.records_delivered == 12 and max(asked) == 2, asked
