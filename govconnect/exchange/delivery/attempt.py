"""One attempt at a batch: send it once and decide what comes of it (delivered, retried later,
or dead), touching the network only, never the outbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from ..._exceptions import PlatformRejectedError, RetryableError
from ..client import ExchangeClient
from ..outbox.claims import Batch
from ..retry import RetryPolicy

__all__ = ["Outcome", "attempt"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: ``delivered``, ``retry`` after ``delay``, or ``dead``."""

    verdict: str
    duplicate: bool = False
    error: Exception | None = None
    delay: float = 0.0
    reason: str = ""


def attempt(
    client: ExchangeClient, policy: RetryPolicy, clock: Callable[[], float], batch: Batch
) -> Outcome:
    """Send once and decide what happens next; touches the network only, never the outbox."""
    try:
        return Outcome("delivered", duplicate=_send(client, batch))
    except PlatformRejectedError as exc:
        return Outcome("dead", error=exc, reason=f"rejected ({exc.status}): {exc}")
    except Exception as exc:
        elapsed = clock() - batch.created_at
        delay = policy.next_delay(batch.attempt, exc)
        if policy.gives_up(batch.attempt, exc, elapsed=elapsed, delay=delay):
            why = "gave up" if isinstance(exc, RetryableError) else "failed"
            reason = f"{why} after {batch.attempt} attempt(s): {exc}"
            return Outcome("dead", error=exc, reason=reason)
        return Outcome("retry", error=exc, delay=delay)


def _send(client: ExchangeClient, batch: Batch) -> bool:
    trace: dict[str, Any] = {"message_id": batch.key, "retry": None, "case_id": batch.case_id}
    if batch.user_id:
        trace["user_id"] = batch.user_id
    if batch.operation == "publish":
        result = client.publish_joined(
            batch.target, batch.joined, idempotency_key=batch.key, **trace
        )
        return result.duplicate
    if batch.operation == "correction":  # a correction batch holds one notice
        answer = client.post_correction(batch.joined, idempotency_key=batch.key, **trace)
        return bool(answer.get("duplicate"))
    body = orjson.loads(batch.joined)  # a status batch holds one change
    del trace["case_id"]  # post_status sends the case it is about as the trace case id
    answer = client.post_status(batch.target, idempotency_key=batch.key, **body, **trace)
    return bool(answer.get("duplicate"))
