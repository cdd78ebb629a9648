"""Helpers shared by the outbox and delivery tests."""

from __future__ import annotations

from typing import Any

from govconnect import Outbox


def one_per_row(outbox: Outbox, code: str, records: list[Any], **trace: Any) -> None:
    """Each record in a row of its own, as small enqueues make them: rows without a key of their
    own, which a claim combines up to its batch_size."""
    for record in records:
        outbox.enqueue(code, [record], **trace)
