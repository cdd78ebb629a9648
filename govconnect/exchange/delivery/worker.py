"""The delivery worker: claims due batches from the outbox and delivers them, one run of the
pipeline after another, until the outbox is drained (``drain``) or a producer is done
(``delivering``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from typing import Any

from ..client import ExchangeClient
from ..events import EventKind, ExchangeEvent
from ..observers import Observers
from ..outbox.store import Outbox
from ..retry import RetryPolicy
from .attempt import attempt
from .pipeline import pipeline
from .settling import emit_event, settle
from .stats import DeliveryStats

__all__ = ["OUTBOX_POLICY", "DeliveryWorker"]

log = logging.getLogger("govconnect.exchange.delivery")

_MAX_CONSECUTIVE_FAILURES = 5

OUTBOX_POLICY = RetryPolicy(max_attempts=50, deadline=24 * 3600.0, initial=0.5, max_wait=300.0)
"""The default durable policy: keep trying for a day before a batch goes to dead letters."""


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
        batch = self.outbox.claim(self.worker_id, batch_size=self.batch_size, lease=self.lease)
        if batch is None:
            return 0
        emit_event(self.observers, EventKind.SENT, batch)
        outcome = attempt(self.client, self.policy, self.outbox.clock, batch)
        stats = stats if stats is not None else DeliveryStats()
        settle(self.outbox, [(batch, outcome)], stats, partial(emit_event, self.observers))
        return batch.records

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
                    busy = pipeline(worker, report, running, helper)
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
                pause = min(max(due - self.outbox.clock(), idle_poll / 5), idle_poll)
                if getattr(self.outbox, "listens", False):
                    # a shared outbox (PostgreSQL): a batch given back or rescheduled by another
                    # worker wakes this one at once (NOTIFY)
                    self.outbox.wait_for_work(pause)
                else:
                    self.sleep(pause)

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
