"""Claiming batches from the outbox and settling them, inside the caller's ``BEGIN IMMEDIATE``
transaction.

An outbox row holds a *chunk*: one or more records enqueued together (up to the outbox's batch
size), or one case status change. A batch is one or more consecutive rows of one target
(operation + resource code or case id) with the same user and case, holding up to ``batch_size``
records; a row is never split, so a row larger than ``batch_size`` goes out alone. Claiming writes
one row to ``outbox_batches`` — key, target, first and last row id, row and record counts, attempts, lease,
next attempt — and leaves the chunk rows untouched, so a claim costs reading the payloads once.

The batches of a target always cover its lowest rows: a row of a target is claimed exactly when its
id is at or below the highest ``last_id`` among the target's live batches (its *frontier*).

A claimed batch is leased to its owner until it is settled: delivered (its rows and its batch row
leave, a line goes to ``outbox_delivered``), rescheduled for a retry or given back unsent (the lease
is dropped, the key kept), or buried (see ``dead_letters``).
"""

from __future__ import annotations

import math
import sqlite3
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .status import execute

__all__ = [
    "Batch",
    "claim_batches",
    "delete_rows",
    "live_state",
    "read_rows",
    "release_batch",
    "reschedule_batch",
    "settle_delivered",
    "take_rows",
]


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows claimed together: one request to the platform under one idempotency key."""

    key: str
    operation: str
    target: str
    user_id: str | None
    case_id: str | None
    ids: list[int]
    """The outbox rows (chunks) in the batch, in order."""
    joined: bytes
    """The records' JSON objects in order, joined by commas: the body's array content as is."""
    attempt: int
    created_at: float
    owner: str
    records: int
    """How many records (or status changes) the rows hold together."""
    fence: int = 0
    """The claim's fencing token (PostgreSQL): settling checks it, so a worker whose lease ran
    out and whose batch another worker reclaimed (with a higher token) settles nothing."""
    lease_until: float = math.inf
    """When the lease runs out (wall clock; PostgreSQL): a batch still unsent then is given back,
    not sent, since another worker may hold it by now."""

    @property
    def span(self) -> tuple[int, int]:
        """First and last row id: the batch is its target's rows in this range."""
        return self.ids[0], self.ids[-1]


def live_state(
    key: str,
    lease_owner: str | None,
    until: float | None,
    due_at: float,
    now: float,
    owner: str,
    held: Collection[str] | None,
) -> str:
    """What a live batch means to a claim by ``owner`` at ``now`` (both engines ask):
    ``"mine"`` — leased to the owner, who still holds it and sends it in order: no obstacle;
    ``"blocked"`` — leased to another worker, or waiting for its retry: nothing later of its
    target may go; ``"due"`` — reclaim it now (a retry fallen due, a dead worker's, or one the
    owner lost track of: leased to it but not in ``held``)."""
    if until is not None and until > now:
        if lease_owner != owner:
            return "blocked"
        if held is None or key in held:
            return "mine"
        return "due"  # ours, but no longer held: reclaim it, in order
    return "blocked" if due_at > now else "due"


def claim_batches(
    conn: sqlite3.Connection,
    owner: str,
    now: float,
    count: int,
    batch_size: int,
    lease: float,
    scan_limit: int,
    held: Collection[str] | None = None,
) -> tuple[list[Batch], bool]:
    """Lease up to ``count`` due batches to ``owner``, in order (none: nothing is due); and
    whether the transaction must be made durable before any of them is sent: it fixed a new
    idempotency key, or reclaimed one (whose first claim may not have reached the disk).

    Live batches that are due and unleased (a retry, or one whose worker died) are reclaimed first,
    with their keys; then new batches start at the oldest unclaimed row whose target is not
    blocked. A target is blocked by a batch that waits for its retry or is leased to another
    worker; a batch leased to ``owner`` itself does not block (the owner sends in order) —
    unless ``held`` is given and lacks its key: then the owner lost track of it (a failure
    between claiming and sending) and it is reclaimed now, before anything later of its target.
    The live batches are read once per call: each batch claimed here updates what was read.
    """
    blocked: set[tuple[str, str]] = set()
    frontier: dict[tuple[str, str], int] = {}
    dense: dict[int, int] = {}
    reclaim: list[tuple[Any, ...]] = []
    for row in conn.execute(
        "SELECT key, operation, target, first_id, last_id, user_id, case_id, next_attempt_at,"
        " lease_owner, lease_until, row_count, attempts, created_at FROM outbox_batches"
        " ORDER BY first_id"
    ):
        key, operation, target, first, last, user_id, case_id, due_at, lease_owner, until = row[:10]
        target_key = (operation, target)
        frontier[target_key] = max(frontier.get(target_key, 0), last)
        if row[10] == last - first + 1:  # no other row inside its range: scans may jump it
            dense[first] = last
        if target_key in blocked:
            continue
        state = live_state(key, lease_owner, until, due_at, now, owner, held)
        if state == "mine":
            continue
        if state == "blocked":
            blocked.add(target_key)
            continue
        if len(reclaim) < count:  # from here on it is leased to the owner: it does not block
            reclaim.append(row)
        else:  # left for the next claim: nothing later of its target may go before it
            blocked.add(target_key)
    batches = []
    for key, operation, target, first, last, user_id, case_id, *_, attempts, created_at in reclaim:
        conn.execute(
            "UPDATE outbox_batches SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
            " WHERE key = ?",
            (owner, now + lease, key),
        )
        ids, records, joined = read_rows(conn, operation, target, first, last)
        batches.append(
            Batch(
                key,
                operation,
                target,
                user_id,
                case_id,
                ids,
                joined,
                attempts + 1,
                created_at,
                owner,
                records,
            )
        )
    fixed = bool(batches)
    while len(batches) < count:
        head = _find_unclaimed(conn, blocked, frontier, dense, scan_limit)
        if head is None:
            break
        batch, new_key = _new_batch(conn, owner, now, head, batch_size, lease)
        fixed = fixed or new_key
        target_key = (batch.operation, batch.target)
        frontier[target_key] = max(frontier.get(target_key, 0), batch.ids[-1])
        if len(batch.ids) == batch.ids[-1] - batch.ids[0] + 1:
            dense[batch.ids[0]] = batch.ids[-1]
        batches.append(batch)
    return batches, fixed


def _new_batch(
    conn: sqlite3.Connection,
    owner: str,
    now: float,
    head: tuple[Any, ...],
    batch_size: int,
    lease: float,
) -> tuple[Batch, bool]:
    """Start a batch at ``head`` (an unclaimed row), leased to ``owner``, under the row's own key
    or else a new one; and whether the key is new."""
    head_id, operation, target, user_id, case_id, row_key = head
    size = 1 if operation == "status" or row_key is not None else batch_size
    ids, records, created_at = _plan(conn, head, size)
    joined = _payloads(conn, operation, target, ids)
    key = row_key or uuid.uuid4().hex
    conn.execute(
        "INSERT INTO outbox_batches (key, operation, target, first_id, last_id, user_id, case_id,"
        " records, row_count, created_at, attempts, next_attempt_at, lease_owner, lease_until)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        (
            key,
            operation,
            target,
            head_id,
            ids[-1],
            user_id,
            case_id,
            records,
            len(ids),
            created_at,
            now,
            owner,
            now + lease,
        ),
    )
    batch = Batch(
        key, operation, target, user_id, case_id, ids, joined, 1, created_at, owner, records
    )
    return batch, row_key is None


def _plan(
    conn: sqlite3.Connection, head: tuple[Any, ...], size: int
) -> tuple[list[int], int, float]:
    """The rows of the batch that starts at ``head``, their records and oldest enqueue time.

    Rows of the head's target are taken in order while their records fit in ``size`` (the head
    always), stopping before a row with another user or case, or with a key of its own (a batch
    by itself). Only columns stored before the payload are read, so the rows left out cost
    nothing but their header.
    """
    head_id, operation, target, *_ = head
    cursor = conn.execute(
        "SELECT id, records, user_id, case_id, created_at, batch_key FROM outbox"
        " WHERE operation = ? AND target = ? AND id >= ? ORDER BY id LIMIT ?",
        (operation, target, head_id, size),
    )
    try:
        return take_rows(cursor, head, size)
    finally:
        cursor.close()


def take_rows(
    rows: Iterable[tuple[Any, ...]], head: tuple[Any, ...], size: int
) -> tuple[list[int], int, float]:
    """The batch's rows among ``rows`` (id, records, user, case, created_at, key; the target's,
    in order, from the head on): taken while their records fit in ``size`` (the head always),
    stopping before a row with another user or case, or with a key of its own. Both engines
    plan batches with it."""
    user_id, case_id = head[3], head[4]
    ids: list[int] = []
    records, oldest = 0, float("inf")
    for row_id, count, row_user, row_case, created_at, row_key in rows:
        if ids and (
            records + count > size
            or row_user != user_id
            or row_case != case_id
            or row_key is not None
        ):
            break
        ids.append(row_id)
        records += count
        oldest = min(oldest, created_at)
        if records >= size:
            break
    return ids, records, oldest


def _payloads(conn: sqlite3.Connection, operation: str, target: str, ids: list[int]) -> bytes:
    """The joined payloads of a target's rows ``ids`` (consecutive among the target's rows)."""
    if len(ids) == 1:
        return conn.execute("SELECT payload FROM outbox WHERE id = ?", ids).fetchone()[0]
    return b",".join(
        payload
        for (payload,) in conn.execute(
            "SELECT payload FROM outbox WHERE id BETWEEN ? AND ? AND operation = ?"
            " AND target = ? ORDER BY id",
            (ids[0], ids[-1], operation, target),
        )
    )


def read_rows(
    conn: Any, operation: str, target: str, first: int, last: int
) -> tuple[list[int], int, bytes]:
    """Row ids, records and joined payloads of a target's rows in ``first..last`` (a live batch;
    either engine's connection)."""
    rows = execute(
        conn,
        "SELECT id, records, payload FROM outbox WHERE id BETWEEN ? AND ? AND operation = ?"
        " AND target = ? ORDER BY id",
        (first, last, operation, target),
    ).fetchall()
    return [r[0] for r in rows], sum(r[1] for r in rows), b",".join(r[2] for r in rows)


def _find_unclaimed(
    conn: sqlite3.Connection,
    blocked: set[tuple[str, str]],
    frontier: dict[tuple[str, str], int],
    dense: dict[int, int],
    scan_limit: int,
) -> tuple[Any, ...] | None:
    """The oldest row above its target's frontier whose target is not blocked, scanned in C.

    The scan starts after the run of claimed batches at the front of the table (a bulk backlog
    has its in-flight batches there). Every target with live batches contributes one "skip rows of
    this target up to here" term (up to the end for a blocked target); beyond ``_INLINE_TERMS``
    targets the terms travel as JSON.
    """
    first = conn.execute("SELECT min(id) FROM outbox").fetchone()[0]
    if first is None:
        return None
    start = first
    while start in dense:
        start = dense[start] + 1
    skip = {target: 2**62 if target in blocked else last for target, last in frontier.items()}
    select = (
        "SELECT o.id, o.operation, o.target, o.user_id, o.case_id, o.batch_key FROM outbox o"
        " WHERE o.id >= ? AND o.id <= ?"
    )
    params: list[Any] = [start, first + scan_limit]
    if len(skip) <= _INLINE_TERMS:
        for (operation, target), last in skip.items():
            select += " AND NOT (o.operation = ? AND o.target = ? AND o.id <= ?)"
            params += [operation, target, last]
    else:
        select += (
            " AND o.id > coalesce((SELECT json_extract(f.value, '$[2]') FROM json_each(?) f"
            " WHERE json_extract(f.value, '$[0]') = o.operation"
            " AND json_extract(f.value, '$[1]') = o.target), 0)"
        )
        params.append(orjson.dumps([[op, target, last] for (op, target), last in skip.items()]))
    return conn.execute(select + " ORDER BY o.id LIMIT 1", params).fetchone()


_INLINE_TERMS = 64


def settle_delivered(
    conn: sqlite3.Connection, delivered: Sequence[tuple[Batch, bool]], now: float
) -> None:
    """The platform applied (or had already applied) the batches, each with its duplicate flag:
    they leave the outbox and each leaves a line in ``outbox_delivered``."""
    for batch, duplicate in delivered:
        if conn.execute("DELETE FROM outbox_batches WHERE key = ?", (batch.key,)).rowcount:
            delete_rows(conn, batch)
        conn.execute(
            "INSERT OR IGNORE INTO outbox_delivered VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                batch.key,
                batch.operation,
                batch.target,
                batch.records,
                batch.ids[0],
                batch.ids[-1],
                batch.attempt,
                int(duplicate),
                now,
            ),
        )


def reschedule_batch(conn: sqlite3.Connection, batch: Batch, due_at: float, error: str) -> None:
    """Release the lease; the batch (same key) is due again at ``due_at``."""
    conn.execute(
        "UPDATE outbox_batches SET lease_owner = NULL, lease_until = NULL,"
        " next_attempt_at = ?, last_error = ? WHERE key = ? AND lease_owner = ?",
        (due_at, error[:2000], batch.key, batch.owner),
    )


def release_batch(conn: sqlite3.Connection, batch: Batch) -> None:
    """Give a claimed batch back unsent: same key, due as before, the attempt not counted."""
    conn.execute(
        "UPDATE outbox_batches SET lease_owner = NULL, lease_until = NULL,"
        " attempts = attempts - 1 WHERE key = ? AND lease_owner = ?",
        (batch.key, batch.owner),
    )


def delete_rows(conn: sqlite3.Connection, batch: Batch) -> None:
    """Delete the batch's rows from ``outbox`` (its target's rows in its span)."""
    conn.execute(
        "DELETE FROM outbox WHERE id BETWEEN ? AND ? AND operation = ? AND target = ?",
        (*batch.span, batch.operation, batch.target),
    )
