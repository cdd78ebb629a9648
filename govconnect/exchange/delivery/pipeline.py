"""The pipeline a delivery worker runs: due batches sent back to back while a helper thread claims
the next ones and records the outcomes, so the outbox's bookkeeping hides behind the network.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from ..events import EventKind
from ..outbox.claims import Batch
from .attempt import Outcome, attempt
from .settling import emit_event, settle
from .stats import DeliveryStats

if TYPE_CHECKING:
    from .worker import DeliveryWorker

__all__ = ["pipeline"]

log = logging.getLogger("govconnect.exchange.delivery")

_AHEAD_BYTES = 4 << 20
"""Payload bytes a worker claims ahead at most in one go (it holds up to twice that)."""


def pipeline(
    worker: DeliveryWorker,
    report: Callable[[DeliveryStats], None],
    running: Callable[[], bool],
    helper: ThreadPoolExecutor,
) -> int:
    """Deliver ``worker``'s due batches back to back; returns how many were sent (0: none due).

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
    ahead = min(2, worker.prefetch)  # how many the helper claims next
    per_send = 0.0  # seconds per request, smoothed
    per_bytes = 0  # the largest batch payload seen

    # Outcomes wait in ``pending`` for the helper, which records all that have accumulated
    # in one go, in the order they happened, together with its next claim if it has one.
    pending: list[tuple[Batch, Outcome]] = []
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
            with worker.outbox.transaction(durable=False):
                try:
                    settle(worker.outbox, todo, stats, lambda *a, **k: events.append((a, k)))
                except Exception:
                    # The batches stay leased to this worker and leave ``holding``: the claim
                    # below takes them back at once and they are re-sent under their keys (a
                    # retry's backoff is skipped; order and exactly-once hold).
                    log.exception("recording the outcome of %d batch(es) failed", len(todo))
                if claim:
                    try:
                        batches = worker.outbox.claim_many(
                            worker.worker_id,
                            claim,
                            batch_size=worker.batch_size,
                            lease=worker.lease,
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
            emit_event(worker.observers, *args, **kwargs)
        report(stats)
        if failure is not None:
            raise failure
        return batches

    def release(batch: Batch) -> None:
        with pending_lock:  # if giving it back fails, the next claim takes it back
            holding.discard(batch.key)
        try:
            worker.outbox.release(batch)
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
                fits = int(worker.lease / (4 * per_send)) if per_send else ahead
                room = _AHEAD_BYTES // max(per_bytes, 1)
                ahead = max(1, min(2 * ahead, worker.prefetch, fits, room))
                refill = helper.submit(work, ahead)
            batch = queue.popleft()
            if batch.lease_until <= worker.outbox.clock():
                # Held past its lease (a paused or starved process, PostgreSQL): another worker
                # may hold it now. Give it and the rest of its target back unsent; the give-back
                # is fenced, so it changes nothing if the batch was reclaimed meanwhile.
                same = (batch.operation, batch.target)
                behind = [batch, *(b for b in queue if (b.operation, b.target) == same)]
                queue = deque(b for b in queue if (b.operation, b.target) != same)
                wait([helper.submit(release, expired) for expired in behind])
                if not queue and refill is not None:
                    queue.extend(refill.result())
                    refill = None
                continue
            per_bytes = max(per_bytes, len(batch.joined))
            emit_event(worker.observers, EventKind.SENT, batch)
            began = time.monotonic()
            outcome = attempt(worker.client, worker.policy, worker.outbox.clock, batch)
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
