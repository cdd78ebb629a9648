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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ._client import ExchangeClient
from ._events import EventKind, ExchangeEvent
from ._exceptions import PlatformRejectedError, RetryableError
from ._outbox import Batch, Observers, Outbox
from ._retry import RetryPolicy

__all__ = ["OUTBOX_POLICY", "DeliveryStats", "DeliveryWorker"]

log = logging.getLogger(__name__)

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


class DeliveryWorker:
    """Claims due batches from ``outbox`` and sends them with ``client`` (one attempt each).

    The client's own retry policy is bypassed: retries are durable, scheduled in the outbox by
    ``policy`` so they survive restarts. ``lease`` must exceed the client's request timeout.
    Events go to ``pm`` (the ``exchange_event`` hook) and/or ``on_event``, or to the outbox's.
    """

    def __init__(
        self,
        outbox: Outbox,
        client: ExchangeClient,
        *,
        policy: RetryPolicy = OUTBOX_POLICY,
        batch_size: int = 500,
        lease: float = 60.0,
        pm: Any = None,
        on_event: Callable[[ExchangeEvent], None] | None = None,
        worker_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.outbox = outbox
        self.client = client
        self.policy = policy
        self.batch_size = batch_size
        self.lease = lease
        self.observers = Observers(pm, on_event) if pm or on_event else outbox.observers
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.sleep = sleep

    # --- one batch -----------------------------------------------------------------------------

    def run_once(self, stats: DeliveryStats | None = None) -> int:
        """Claim and deliver one due batch; returns how many rows it held (0: nothing due)."""
        stats = stats if stats is not None else DeliveryStats()
        batch = self.outbox.claim(self.worker_id, batch_size=self.batch_size, lease=self.lease)
        if batch is None:
            return 0
        self._emit(EventKind.SENT, batch)
        try:
            duplicate = self._send(batch)
        except PlatformRejectedError as exc:
            self._dead(batch, f"rejected ({exc.status}): {exc}", exc, stats)
        except Exception as exc:
            self._failed(batch, exc, stats)
        else:
            self.outbox.mark_delivered(batch, duplicate=duplicate)
            stats.batches_delivered += 1
            stats.records_delivered += len(batch.ids)
            stats.duplicates += int(duplicate)
            self._emit(EventKind.DELIVERED, batch, extra={"duplicate": duplicate})
        return len(batch.ids)

    def _send(self, batch: Batch) -> bool:
        trace = {"message_id": batch.key, "retry": None, "case_id": batch.case_id}
        if batch.user_id:
            trace["user_id"] = batch.user_id
        if batch.operation == "publish":
            result = self.client.publish_encoded(
                batch.target, batch.payloads, idempotency_key=batch.key, **trace
            )
            return result.duplicate
        body = orjson.loads(batch.payloads[0])
        del trace["case_id"]  # post_status sends the case it is about as the trace case id
        answer = self.client.post_status(batch.target, idempotency_key=batch.key, **body, **trace)
        return bool(answer.get("duplicate"))

    def _failed(self, batch: Batch, exc: Exception, stats: DeliveryStats) -> None:
        name = (
            type(exc).__name__ if not isinstance(exc, RetryableError) else f"retryable:{exc.status}"
        )
        stats.errors[name] = stats.errors.get(name, 0) + 1
        elapsed = self.outbox.clock() - batch.created_at
        delay = self.policy.next_delay(batch.attempt, exc)
        if self.policy.gives_up(batch.attempt, exc, elapsed=elapsed, delay=delay):
            why = "gave up" if isinstance(exc, RetryableError) else "failed"
            self._dead(batch, f"{why} after {batch.attempt} attempt(s): {exc}", exc, stats)
            return
        self.outbox.reschedule(batch, delay, str(exc))
        stats.retries += 1
        self._emit(EventKind.RETRIED, batch, error=str(exc), extra={"delay": delay})

    def _dead(self, batch: Batch, reason: str, exc: Exception, stats: DeliveryStats) -> None:
        problems = getattr(exc, "problems", ())
        dead_id = self.outbox.bury(batch, reason, problems)
        stats.dead_lettered += 1
        stats.records_dead += len(batch.ids)
        log.warning("batch %s dead-lettered: %s", batch.key, reason, extra={"dead_letter": dead_id})
        self._emit(EventKind.DEAD_LETTERED, batch, error=reason, extra={"dead_letter": dead_id})

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
                records=len(batch.ids),
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
    ) -> DeliveryStats:
        """Deliver until the outbox is empty (or ``timeout`` seconds pass, or ``stop`` is set).

        With ``threads > 1`` that many threads claim concurrently, sharing this worker's client.
        Rows waiting for a retry are waited for, so an empty outbox means everything was settled.
        """
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        stop = stop or threading.Event()
        total = DeliveryStats()
        lock = threading.Lock()

        def loop(index: int) -> None:
            worker = self if index == 0 else self._sibling(index)
            while not stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    return
                mine = DeliveryStats()
                if worker.run_once(mine):
                    with lock:
                        total.merge(mine)
                        if on_progress is not None:
                            on_progress(total)
                    continue
                due = self.outbox.next_due()
                if due is None:
                    return
                self.sleep(min(max(due - self.outbox.clock(), idle_poll / 5), idle_poll))

        if threads <= 1:
            loop(0)
        else:
            pool = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
            for thread in pool:
                thread.start()
            for thread in pool:
                thread.join()
        total.seconds = time.monotonic() - started
        return total

    def _sibling(self, index: int) -> DeliveryWorker:
        sibling = DeliveryWorker(
            self.outbox,
            self.client,
            policy=self.policy,
            batch_size=self.batch_size,
            lease=self.lease,
            worker_id=f"{self.worker_id}/{index}",
            sleep=self.sleep,
        )
        sibling.observers = self.observers
        return sibling
