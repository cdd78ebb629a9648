"""The delivery worker: drains the outbox to the platform, one leased batch at a time.

Each attempt is recorded in the outbox before the request goes out (attempt count, lease), and its
outcome after: delivered (the batch leaves the outbox), retried later (next attempt time and last
error, from the :class:`RetryPolicy`, ``Retry-After`` honoured), or dead-lettered (a 4xx with the
platform's problems, or the policy's deadline or attempt limit reached). Because the batch's
idempotency key is fixed at its first claim, a re-send after a crash or a lost response is refused
by the platform as a duplicate: at-least-once on the wire, exactly-once at the platform.

Several workers — threads sharing one :class:`Outbox`, or processes opening the same file — can drain
one outbox; each claims under ``BEGIN IMMEDIATE`` with a lease, so no batch is in flight twice
unless a lease expired (and then the duplicate is refused by key).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..._exceptions import PlatformRejectedError, RetryableError
from ..client import ExchangeClient
from ..events import EventKind, ExchangeEvent
from ..observers import Observers
from ..outbox.claims import Batch
from ..outbox.store import Outbox
from ..retry import RetryPolicy

__all__ = ["OUTBOX_POLICY", "DeliveryStats", "DeliveryWorker"]

log = logging.getLogger("govconnect.exchange.delivery")

_MAX_CONSECUTIVE_FAILURES = 5

_AHEAD_BYTES = 4 << 20
"""Payload bytes a worker claims ahead at most in one go (it holds up to twice that)."""

OUTBOX_POLICY = RetryPolicy(max_attempts=50, deadline=24 * 3600.0, initial=0.5, max_wait=300.0)
"""The default durable policy: keep trying for a day before a batch goes to dead letters."""


@dataclass(slots=True)
class DeliveryStats:
    """What a drain did; ``records_delivered`` counts records of batches the platform accepted."""

    batches_delivered: int = 0
    records_delivered: int = 0
    duplicates: int = 0
    retries: int = 0
    dead_lettered: int = 0
    records_dead: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def merge(self, other: DeliveryStats) -> None:
        for name in (
            "batches_delivered",
            "records_delivered",
            "duplicates",
            "retries",
            "dead_lettered",
            "records_dead",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, count in other.errors.items():
            self.errors[key] = self.errors.get(key, 0) + count


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one attempt came to: ``delivered``, ``retry`` after ``delay``, or ``dead``."""

    verdict: str
    duplicate: bool = False
    error: Exception | None = None
    delay: float = 0.0
    reason: str = ""


class DeliveryWorker:
    """Claims due batches from ``outbox`` and sends them with ``client`` (one attempt each).

    The client's own retry policy is bypassed: retries are durable, scheduled in the outbox by
    ``policy`` so they survive restarts. A worker holds up to ``2 * prefetch`` batches, claimed
    ahead and sent one after another; it claims fewer when requests are slow, so that what it
    holds is sent within about half the ``lease``, and when batches are large, so that it holds
    at most about 8 MiB of payloads. A lease that runs out early anyway (requests
    slowing down suddenly) only causes a re-send under the same key, refused as a duplicate. ``batch_size`` (default: the
    outbox's) caps the records per request when small rows are combined; a row is never split.
    Events go to ``pm`` (the ``exchange_event`` hook) and/or ``on_event``, or to the outbox's.
    """

    def __init__(
        self,
        outbox: Outbox,
        client: ExchangeClient,
        *,
        policy: RetryPolicy = OUTBOX_POLICY,
        batch_size: int | None = None,
        lease: float = 60.0,
        prefetch: int = 32,
        pm: Any = None,
        on_event: Callable[[ExchangeEvent], None] | None = None,
        worker_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.policy = policy
        self.batch_size = outbox.batch_size if batch_size is None else batch_size
        self.lease = lease
        self.prefetch = max(prefetch, 1)
        self.observers = Observers(pm, on_event) if pm or on_event else outbox.observers
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sleep = sleep

    # --- one batch -----------------------------------------------------------------------------

    def run_once(self, stats: DeliveryStats | None = None) -> int:
        """Claim and deliver one due batch; returns how many records it held (0: nothing due)."""
        batch = self._claim()
        if batch is None:
            return 0
        self._emit(EventKind.SENT, batch)
        self._settle(batch, self._attempt(batch), stats if stats is not None else DeliveryStats())
        return batch.records

    def _claim(self) -> Batch | None:
        return self.outbox.claim(self.worker_id, batch_size=self.batch_size, lease=self.lease)

    def _attempt(self, batch: Batch) -> _Outcome:
        """Send once and decide what happens next; touches the network only, never the outbox."""
        try:
            return _Outcome("delivered", duplicate=self._send(batch))
        except PlatformRejectedError as exc:
            return _Outcome("dead", error=exc, reason=f"rejected ({exc.status}): {exc}")
        except Exception as exc:
            elapsed = self.outbox.clock() - batch.created_at
            delay = self.policy.next_delay(batch.attempt, exc)
            if self.policy.gives_up(batch.attempt, exc, elapsed=elapsed, delay=delay):
                why = "gave up" if isinstance(exc, RetryableError) else "failed"
                reason = f"{why} after {batch.attempt} attempt(s): {exc}"
                return _Outcome("dead", error=exc, reason=reason)
            return _Outcome("retry", error=exc, delay=delay)

    def _send(self, batch: Batch) -> bool:
        trace: dict[str, Any] = {"message_id": batch.key, "retry": None, "case_id": batch.case_id}
        if batch.user_id:
            trace["user_id"] = batch.user_id
        if batch.operation == "publish":
            result = self.client.publish_joined(
                batch.target, batch.joined, idempotency_key=batch.key, **trace
            )
            return result.duplicate
        body = orjson.loads(batch.joined)  # a status batch holds one change
        del trace["case_id"]  # post_status sends the case it is about as the trace case id
        answer = self.client.post_status(batch.target, idempotency_key=batch.key, **body, **trace)
        return bool(answer.get("duplicate"))

    def _settle(self, batch: Batch, outcome: _Outcome, stats: DeliveryStats) -> None:
        """Record the outcome in the outbox, count it, and tell the observers."""
        self._settle_many([(batch, outcome)], stats)

    def _settle_many(
        self,
        settled: Sequence[tuple[Batch, _Outcome]],
        stats: DeliveryStats,
        emit: Callable[..., None] | None = None,
    ) -> None:
        """Record outcomes in order; consecutive deliveries share one transaction.

        ``emit`` replaces :meth:`_emit` for the events (the pipeline holds them until its
        transaction commits)."""
        emit = emit or self._emit
        delivered: list[tuple[Batch, bool]] = []
        for batch, outcome in settled:
            if outcome.verdict == "delivered":
                delivered.append((batch, outcome.duplicate))
                continue
            self._flush_delivered(delivered, stats, emit)
            delivered = []
            self._settle_failure(batch, outcome, stats, emit)
        self._flush_delivered(delivered, stats, emit)

    def _flush_delivered(
        self, delivered: list[tuple[Batch, bool]], stats: DeliveryStats, emit: Callable[..., None]
    ) -> None:
        if not delivered:
            return
        self.outbox.mark_delivered_many(delivered)
        for batch, duplicate in delivered:
            stats.batches_delivered += 1
            stats.records_delivered += batch.records
            stats.duplicates += int(duplicate)
            emit(EventKind.DELIVERED, batch, extra={"duplicate": duplicate})

    def _settle_failure(
        self, batch: Batch, outcome: _Outcome, stats: DeliveryStats, emit: Callable[..., None]
    ) -> None:
        exc = outcome.error
        if exc is not None:
            name = (
                f"retryable:{exc.status}" if isinstance(exc, RetryableError) else type(exc).__name__
            )
            stats.errors[name] = stats.errors.get(name, 0) + 1
        if outcome.verdict == "retry":
            self.outbox.reschedule(batch, outcome.delay, str(exc))
            stats.retries += 1
            emit(EventKind.RETRIED, batch, error=str(exc), extra={"delay": outcome.delay})
        else:
            dead_id = self.outbox.bury(batch, outcome.reason, getattr(exc, "problems", ()))
            stats.dead_lettered += 1
            stats.records_dead += batch.records
            log.warning(
                "batch %s dead-lettered: %s",
                batch.key,
                outcome.reason,
                extra={"dead_letter": dead_id},
            )
            emit(
                EventKind.DEAD_LETTERED, batch, error=outcome.reason, extra={"dead_letter": dead_id}
            )

    def _pipeline(
        self,
        report: Callable[[DeliveryStats], None],
        running: Callable[[], bool],
        helper: ThreadPoolExecutor,
    ) -> int:
        """Deliver due batches back to back; returns how many were sent (0: nothing was due).

        A helper thread does the outbox's bookkeeping while the calling thread keeps the wire
        busy, so it hides behind the network: as soon as no more batches are left to send than
        it claimed last time, it claims the next ones — 2 at first, so the first request goes out
        at once, then twice as many each time up to ``prefetch``, and never more than fit in a
        quarter of the lease at the pace requests are taking, nor in ``_AHEAD_BYTES`` at the
        largest batch seen — and in the same transaction
        (one commit, one fsync) records the outcomes that accumulated since. Batches are sent in
        claim order, so per-target order holds; when one must wait for a retry, its outcome is
        recorded at once and the queued batches of its target are given back unsent.
        """
        sent = 0
        queue: deque[Batch] = deque()
        refill: Future[list[Batch]] | None = None
        ahead = min(2, self.prefetch)  # how many the helper claims next
        per_send = 0.0  # seconds per request, smoothed
        per_bytes = 0  # the largest batch payload seen

        # Outcomes wait in ``pending`` for the helper, which records all that have accumulated
        # in one go, in the order they happened, together with its next claim if it has one.
        pending: list[tuple[Batch, _Outcome]] = []
        pending_lock = threading.Lock()
        # Keys of the batches this pipeline claimed and has not settled or given back. A batch
        # leased to this worker but not here was lost track of (a failure between claim and
        # send): the next claim takes it back first, so nothing later of its target overtakes it.
        holding: set[str] = set()

        def work(claim: int) -> list[Batch]:
            with pending_lock:
                todo = pending[:]
                pending.clear()
                held = holding - {batch.key for batch, _ in todo}
            stats = DeliveryStats()
            events: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
            batches: list[Batch] = []
            failure: Exception | None = None
            try:
                with self.outbox.transaction(durable=False):
                    try:
                        self._settle_many(todo, stats, lambda *a, **k: events.append((a, k)))
                    except Exception:
                        # The batches stay leased to this worker and leave ``holding``: the claim
                        # below takes them back at once and they are re-sent under their keys (a
                        # retry's backoff is skipped; order and exactly-once hold).
                        log.exception("recording the outcome of %d batch(es) failed", len(todo))
                    if claim:
                        try:
                            batches = self.outbox.claim_many(
                                self.worker_id,
                                claim,
                                batch_size=self.batch_size,
                                lease=self.lease,
                                held=held,
                            )
                        except Exception as exc:  # what was recorded above still commits
                            failure = exc
            except Exception:
                if todo:
                    log.exception("recording the outcome of %d batch(es) failed", len(todo))
                raise
            with pending_lock:
                holding.difference_update(batch.key for batch, _ in todo)
                holding.update(batch.key for batch in batches)
            for args, kwargs in events:
                self._emit(*args, **kwargs)
            report(stats)
            if failure is not None:
                raise failure
            return batches

        def release(batch: Batch) -> None:
            with pending_lock:  # if giving it back fails, the next claim takes it back
                holding.discard(batch.key)
            try:
                self.outbox.release(batch)
            except Exception:  # harmless: the lease runs out and the batch is claimed again
                log.exception("giving back batch %s failed", batch.key)

        try:
            queue.extend(work(ahead))
            while queue:
                if not running():
                    break
                if refill is None and len(queue) <= ahead:
                    # Grow, but hold no more than a quarter lease's worth of sends (batches
                    # queued behind slow requests must not outlive their leases), nor more
                    # than _AHEAD_BYTES of payloads (large records must not swell memory).
                    fits = int(self.lease / (4 * per_send)) if per_send else ahead
                    room = _AHEAD_BYTES // max(per_bytes, 1)
                    ahead = max(1, min(2 * ahead, self.prefetch, fits, room))
                    refill = helper.submit(work, ahead)
                batch = queue.popleft()
                per_bytes = max(per_bytes, len(batch.joined))
                self._emit(EventKind.SENT, batch)
                began = time.monotonic()
                outcome = self._attempt(batch)
                took = time.monotonic() - began
                per_send = took if not per_send else 0.8 * per_send + 0.2 * took
                with pending_lock:
                    pending.append((batch, outcome))
                sent += 1
                if outcome.verdict == "retry":
                    # record it before anything else is claimed: its target waits from now on
                    if refill is not None:
                        queue.extend(refill.result())
                    refill = helper.submit(work, 0)
                    same = (batch.operation, batch.target)
                    behind = [b for b in queue if (b.operation, b.target) == same]
                    queue = deque(b for b in queue if (b.operation, b.target) != same)
                    # Wait for the give-backs too: a claim that ran before one of them (the
                    # next pipeline's first, on this thread) would take a batch whose lease
                    # the late give-back then clears under it, and it would go out twice.
                    given_back = [helper.submit(release, waiting) for waiting in behind]
                    refill.result()
                    wait(given_back)
                    refill = None
                if not queue and refill is not None:
                    queue.extend(refill.result())
                    refill = None
            if refill is not None:
                queue.extend(refill.result())
        finally:
            # Give back what was not sent and record what was, before returning: the caller
            # looks at the outbox next, and must not see these batches as still in flight.
            last: list[Future[Any]] = [helper.submit(release, unsent) for unsent in queue]
            if pending:
                last.append(helper.submit(work, 0))
            wait(last)
        return sent

    def _emit(
        self,
        kind: EventKind,
        batch: Batch,
        *,
        error: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.observers.emit(
            ExchangeEvent(
                kind,
                batch.key,
                batch.operation,
                resource_code=batch.target if batch.operation == "publish" else None,
                case_id=batch.case_id,
                attempt=batch.attempt,
                records=batch.records,
                error=error,
                extra=extra or {},
            )
        )

    # --- draining ------------------------------------------------------------------------------

    def drain(
        self,
        *,
        timeout: float | None = None,
        threads: int = 1,
        stop: threading.Event | None = None,
        idle_poll: float = 0.05,
        on_progress: Callable[[DeliveryStats], None] | None = None,
        finished: threading.Event | None = None,
    ) -> DeliveryStats:
        """Deliver until the outbox is empty (or ``timeout`` seconds pass, or ``stop`` is set).

        With ``threads > 1`` that many threads claim concurrently, sharing this worker's client.
        Rows waiting for a retry are waited for, so an empty outbox means everything was settled.
        With ``finished``, an empty outbox ends the drain only once that event is set: a producer
        is still enqueueing, and sets it after its last commit (see :meth:`delivering`).
        """
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        stop = stop or threading.Event()
        halt = threading.Event()  # set when one drain thread fails for good: the others stop too
        total = DeliveryStats()
        lock = threading.Lock()

        def running() -> bool:
            return (
                not stop.is_set()
                and not halt.is_set()
                and (deadline is None or time.monotonic() <= deadline)
            )

        def report(stats: DeliveryStats) -> None:
            with lock:
                total.merge(stats)
                if on_progress is not None:
                    on_progress(total)

        def loop(index: int) -> None:
            # One helper thread per drain thread, for the whole drain: it keeps one outbox
            # connection, closed when the drain ends (a helper per pipeline run would open one
            # each time a producer's enqueue woke an idle worker).
            with ThreadPoolExecutor(1, thread_name_prefix="outbox-helper") as helper:
                try:
                    follow(index, helper)
                finally:
                    helper.submit(self.outbox.close_thread)

        def follow(index: int, helper: ThreadPoolExecutor) -> None:
            worker = self if index == 0 else self._sibling(index)
            failures = 0
            while running():
                try:
                    busy = worker._pipeline(report, running, helper)
                    failures = 0
                except Exception:
                    # The outbox itself failed (disk, lock timeout): leases keep every batch safe.
                    failures += 1
                    log.exception(
                        "delivery worker %s failed (%d in a row)", worker.worker_id, failures
                    )
                    if failures >= _MAX_CONSECUTIVE_FAILURES:
                        raise
                    self.sleep(idle_poll)
                    continue
                if busy:
                    continue
                # Read "finished" before looking: the producer's last commit precedes its set().
                done = finished is None or finished.is_set()
                due = self.outbox.next_due()
                if due is None:
                    if done:
                        return
                    self.outbox.wait_for_work(idle_poll)
                    continue
                self.sleep(min(max(due - self.outbox.clock(), idle_poll / 5), idle_poll))

        if threads <= 1:
            loop(0)
        else:
            errors: list[BaseException] = []

            def guarded(index: int) -> None:
                try:
                    loop(index)
                except BaseException as exc:
                    errors.append(exc)
                    halt.set()
                finally:
                    self.outbox.close_thread()

            pool = [
                threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(threads)
            ]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
            if errors:
                raise errors[0]
        total.seconds = time.monotonic() - started
        return total

    @contextmanager
    def delivering(
        self,
        *,
        threads: int = 1,
        timeout: float | None = None,
        idle_poll: float = 0.05,
        on_progress: Callable[[DeliveryStats], None] | None = None,
    ) -> Iterator[DeliveryStats]:
        """Deliver in the background while the block enqueues; leaving it waits until everything
        is delivered or dead-lettered.

        What for: a producer (a dataset publish, an intake run) and delivery overlap instead of
        taking turns, so the first batches reach the platform while later ones are still being
        read and committed. Each enqueue wakes the worker at once (this :class:`Outbox` object);
        the yielded stats are filled in when the block is left. If the block raises, delivery
        stops at the next batch and what is left stays in the outbox, safe for the next drain.
        ``timeout`` and ``idle_poll`` are :meth:`drain`'s (the poll only matters for enqueues by
        other processes); a drain that failed for good is raised on leaving.
        """
        finished, stop = threading.Event(), threading.Event()
        stats = DeliveryStats()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                stats.merge(
                    self.drain(
                        threads=threads,
                        timeout=timeout,
                        stop=stop,
                        finished=finished,
                        idle_poll=idle_poll,
                        on_progress=on_progress,
                    )
                )
            except BaseException as exc:
                errors.append(exc)
            finally:
                self.outbox.close_thread()

        started = time.monotonic()
        thread = threading.Thread(target=run, name="govconnect-delivery", daemon=True)
        thread.start()
        try:
            yield stats
        except BaseException:
            stop.set()
            raise
        finally:
            finished.set()
            self.outbox.wake()  # an idle worker notices at once
            thread.join()
            stats.seconds = time.monotonic() - started
        if errors:
            raise errors[0]

    def _sibling(self, index: int) -> DeliveryWorker:
        sibling = DeliveryWorker(
            self.outbox,
            self.client,
            policy=self.policy,
            batch_size=self.batch_size,
            lease=self.lease,
            prefetch=self.prefetch,
            worker_id=f"{self.worker_id}/{index}",
            sleep=self.sleep,
        )
        sibling.observers = self.observers
        return sibling
