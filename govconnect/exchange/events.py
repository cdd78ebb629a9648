"""Exchange events: what happened to one outgoing exchange, as plugins observe it.

Events go through the ``exchange_event`` hook so plugins (metrics, alerting, a department's own
message log) can observe delivery without touching the outbox or the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

__all__ = ["EventKind", "ExchangeEvent"]


class EventKind(StrEnum):
    """Lifecycle of one outgoing exchange, in the order they can happen."""

    ENQUEUED = "enqueued"
    SENT = "sent"
    RETRIED = "retried"
    DELIVERED = "delivered"
    DEAD_LETTERED = "dead_lettered"
    REPLAYED = "replayed"


@dataclass(frozen=True, slots=True)
class ExchangeEvent:
    """One step in the life of an outgoing exchange.

    ``message_id`` is the outbox id that travels as the exchange's message id; ``attempt`` counts
    delivery attempts (1 for the first); ``error`` carries the last error's text for ``retried`` and
    ``dead_lettered``.
    """

    kind: EventKind
    message_id: str
    operation: str
    resource_code: str | None = None
    case_id: str | None = None
    attempt: int = 0
    records: int = 0
    error: str | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    extra: dict[str, Any] = field(default_factory=dict)
