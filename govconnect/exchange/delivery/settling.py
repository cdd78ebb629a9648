"""Settling attempts: their outcomes recorded in the outbox (delivered, rescheduled, buried),
counted in the stats and told to the observers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from ..._exceptions import RetryableError
from ..events import EventKind, ExchangeEvent
from ..observers import Observers
from ..outbox.claims import Batch
from ..outbox.store import Outbox
from .attempt import Outcome
from .stats import DeliveryStats

__all__ = ["emit_event", "settle"]

log = logging.getLogger("govconnect.exchange.delivery")


def settle(
    outbox: Outbox,
    settled: Sequence[tuple[Batch, Outcome]],
    stats: DeliveryStats,
    emit: Callable[..., None],
) -> None:
    """Record outcomes in order, count them and tell ``emit`` (:func:`emit_event` to the worker's
    observers, or a pipeline's list that holds the events until its transaction commits);
    consecutive deliveries share one transaction."""
    delivered: list[tuple[Batch, bool]] = []
    for batch, outcome in settled:
        if outcome.verdict == "delivered":
            delivered.append((batch, outcome.duplicate))
            continue
        _flush_delivered(outbox, delivered, stats, emit)
        delivered = []
        _settle_failure(outbox, batch, outcome, stats, emit)
    _flush_delivered(outbox, delivered, stats, emit)


def _flush_delivered(
    outbox: Outbox,
    delivered: list[tuple[Batch, bool]],
    stats: DeliveryStats,
    emit: Callable[..., None],
) -> None:
    if not delivered:
        return
    stale = outbox.mark_delivered_many(delivered) or ()
    for batch, duplicate in delivered:
        if batch.key in stale:  # fenced off (PostgreSQL): the worker holding it now settles it
            stats.stale += 1
            continue
        stats.batches_delivered += 1
        stats.records_delivered += batch.records
        stats.duplicates += int(duplicate)
        emit(EventKind.DELIVERED, batch, extra={"duplicate": duplicate})


def _settle_failure(
    outbox: Outbox,
    batch: Batch,
    outcome: Outcome,
    stats: DeliveryStats,
    emit: Callable[..., None],
) -> None:
    exc = outcome.error
    if exc is not None:
        name = f"retryable:{exc.status}" if isinstance(exc, RetryableError) else type(exc).__name__
        stats.errors[name] = stats.errors.get(name, 0) + 1
    if outcome.verdict == "retry":
        if outbox.reschedule(batch, outcome.delay, str(exc)) is False:
            stats.stale += 1  # fenced off: the worker that holds it now decides
            return
        stats.retries += 1
        emit(EventKind.RETRIED, batch, error=str(exc), extra={"delay": outcome.delay})
    else:
        dead_id = outbox.bury(batch, outcome.reason, getattr(exc, "problems", ()))
        if dead_id is None and batch.fence:
            stats.stale += 1  # fenced off: the worker that holds it now decides
            return
        stats.dead_lettered += 1
        stats.records_dead += batch.records
        log.warning(
            "batch %s dead-lettered: %s",
            batch.key,
            outcome.reason,
            extra={"dead_letter": dead_id},
        )
        emit(EventKind.DEAD_LETTERED, batch, error=outcome.reason, extra={"dead_letter": dead_id})


def emit_event(
    observers: Observers,
    kind: EventKind,
    batch: Batch,
    *,
    error: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Tell the observers what happened to ``batch``."""
    observers.emit(
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
