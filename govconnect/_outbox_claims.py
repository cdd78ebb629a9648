"""Claiming batches from the outbox table, inside the caller's ``BEGIN IMMEDIATE`` transaction.

A batch is up to ``batch_size`` rows of one target (operation + resource code or case id) with the
same user and case, contiguous among that target's rows. Its membership is fixed when it is first
claimed: the rows get the batch's key and the id of its last row, so a batch is always "the rows of
its target between its first and last id that carry its key" — no per-row index is needed.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Batch", "claim_one"]


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows claimed together: one request to the platform under one idempotency key."""

    key: str
    operation: str
    target: str
    user_id: str | None
    case_id: str | None
    ids: list[int]
    payloads: list[bytes]
    attempt: int
    created_at: float
    owner: str

    @property
    def span(self) -> tuple[int, int]:
        """First and last row id: a batch is the rows of its target, in this range, with its key."""
        return self.ids[0], self.ids[-1]


def claim_one(
    conn: sqlite3.Connection, owner: str, now: float, batch_size: int, lease: float, scan_limit: int
) -> Batch | None:
    """Lease the next due batch to ``owner`` (reclaiming one whose lease expired, with its key),
    or return None when nothing is due."""
    head = _find_head(conn, now, scan_limit, owner)
    if head is None:
        return None
    head_id, operation, target, user_id, case_id, key, last = head
    if key is None:
        key = uuid.uuid4().hex
        last = _batch_end(conn, head, 1 if operation == "status" else batch_size)
        conn.execute(
            "UPDATE outbox SET batch_key = ?, batch_end = ?, lease_owner = ?, lease_until = ?,"
            " attempts = attempts + 1 WHERE id BETWEEN ? AND ? AND operation = ? AND target = ?",
            (key, last, owner, now + lease, head_id, last, operation, target),
        )
    else:
        conn.execute(
            "UPDATE outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
            " WHERE id BETWEEN ? AND ? AND batch_key = ?",
            (owner, now + lease, head_id, last, key),
        )
    rows = conn.execute(
        "SELECT id, payload, attempts, created_at FROM outbox"
        " WHERE id BETWEEN ? AND ? AND batch_key = ? ORDER BY id",
        (head_id, last, key),
    ).fetchall()
    return Batch(
        key=key,
        operation=operation,
        target=target,
        user_id=user_id,
        case_id=case_id,
        ids=[r[0] for r in rows],
        payloads=[r[1] for r in rows],
        attempt=max(r[2] for r in rows),
        created_at=min(r[3] for r in rows),
        owner=owner,
    )


def _batch_end(conn: sqlite3.Connection, head: tuple[Any, ...], size: int) -> int:
    """Last id of the batch that starts at ``head``: up to ``size`` rows of its target, stopping
    before a row of that target with another user or case id, or already in a batch."""
    head_id, operation, target, user_id, case_id, *_ = head
    row = conn.execute(
        "SELECT id FROM outbox WHERE operation = ? AND target = ? AND id >= ?"
        " ORDER BY id LIMIT 1 OFFSET ?",
        (operation, target, head_id, size - 1),
    ).fetchone()
    last = row[0] if row is not None else 2**62
    mismatch = conn.execute(
        "SELECT id FROM outbox WHERE operation = ? AND target = ? AND id > ? AND id <= ?"
        " AND (user_id IS NOT ? OR case_id IS NOT ? OR batch_key IS NOT NULL) ORDER BY id LIMIT 1",
        (operation, target, head_id, last, user_id, case_id),
    ).fetchone()
    return mismatch[0] - 1 if mismatch is not None else last


def _find_head(
    conn: sqlite3.Connection, now: float, scan_limit: int, owner: str
) -> tuple[Any, ...] | None:
    """The oldest row that is due, unleased, and not behind a waiting row of the same target.

    Rows leased by ``owner`` itself neither qualify nor block: a worker that pipelines may claim
    the next batch of a target while its previous one is in flight, because it sends them in order.
    Each step asks SQLite for the first row after the last one seen whose target is not yet known
    to be blocked, so every row is scanned at most once, in C; ``scan_limit`` bounds the id range.
    """
    blocked: list[str] = []
    after = 0
    limit: int | None = None
    while True:
        row = conn.execute(
            "SELECT id, operation, target, user_id, case_id, batch_key, batch_end, next_attempt_at,"
            " lease_until FROM outbox WHERE id > ? AND id <= ?"
            " AND (lease_owner IS NOT ? OR lease_until <= ?)"
            " AND operation || ' ' || target NOT IN (SELECT value FROM json_each(?))"
            " ORDER BY id LIMIT 1",
            (after, limit if limit is not None else 2**62, owner, now, orjson.dumps(blocked)),
        ).fetchone()
        if row is None:
            return None
        if limit is None:
            limit = row[0] + scan_limit
        if row[7] <= now and (row[8] is None or row[8] <= now):
            return row[:7]
        blocked.append(f"{row[1]} {row[2]}")
        after = row[0]
