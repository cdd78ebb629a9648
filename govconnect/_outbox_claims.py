"""Claiming batches from the outbox, inside the caller's ``BEGIN IMMEDIATE`` transaction.

A batch is up to ``batch_size`` rows of one target (operation + resource code or case id) with the
same user and case, contiguous among that target's rows. Claiming writes one row to
``outbox_batches`` — key, target, first and last row id, attempts, lease, next attempt — and leaves
the record rows untouched, so the cost of a claim is reading the payloads, not rewriting them.

The batches of a target always cover its lowest rows: a row of a target is claimed exactly when its
id is at or below the highest ``last_id`` among the target's live batches (its *frontier*).
"""

from __future__ import annotations

import functools
import sqlite3
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["BATCHES_SCHEMA", "Batch", "claim_one"]

BATCHES_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_batches (
    key             TEXT PRIMARY KEY,
    operation       TEXT NOT NULL,
    target          TEXT NOT NULL,
    first_id        INTEGER NOT NULL,
    last_id         INTEGER NOT NULL,
    user_id         TEXT,
    case_id         TEXT,
    records         INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS outbox_batches_by_first ON outbox_batches(first_id);
"""


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows claimed together: one request to the platform under one idempotency key."""

    key: str
    operation: str
    target: str
    user_id: str | None
    case_id: str | None
    ids: list[int]
    joined: bytes
    """The records' JSON objects in order, joined by commas: the body's array content as is."""
    attempt: int
    created_at: float
    owner: str

    @property
    def span(self) -> tuple[int, int]:
        """First and last row id: the batch is its target's rows in this range."""
        return self.ids[0], self.ids[-1]


def claim_one(
    conn: sqlite3.Connection, owner: str, now: float, batch_size: int, lease: float, scan_limit: int
) -> Batch | None:
    """Lease the next due batch to ``owner``, or return None when nothing is due.

    First a live batch that is due and unleased (a retry, or one whose worker died) is reclaimed
    with its key; otherwise a new batch starts at the oldest unclaimed row whose target is not
    blocked. A target is blocked by a batch that waits for its retry or is leased to another
    worker; a batch leased to ``owner`` itself does not block (the owner sends in order).
    """
    blocked: set[tuple[str, str]] = set()
    frontier: dict[tuple[str, str], int] = {}
    dense: dict[int, int] = {}
    for row in conn.execute(
        "SELECT key, operation, target, first_id, last_id, user_id, case_id, next_attempt_at,"
        " lease_owner, lease_until, records FROM outbox_batches ORDER BY first_id"
    ):
        key, operation, target, first, last, user_id, case_id, due_at, lease_owner, until = row[:10]
        target_key = (operation, target)
        frontier[target_key] = max(frontier.get(target_key, 0), last)
        if row[10] == last - first + 1:  # no other row inside its range: scans may jump it
            dense[first] = last
        if target_key in blocked:
            continue
        leased = until is not None and until > now
        if leased and lease_owner == owner:
            continue
        if leased or due_at > now:
            blocked.add(target_key)
            continue
        conn.execute(
            "UPDATE outbox_batches SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
            " WHERE key = ?",
            (owner, now + lease, key),
        )
        return _load(conn, key, operation, target, user_id, case_id, first, last, owner)
    head = _find_unclaimed(conn, blocked, frontier, dense, scan_limit)
    if head is None:
        return None
    head_id, operation, target, user_id, case_id = head
    ids, joined, created_at = _read_batch(conn, head, 1 if operation == "status" else batch_size)
    key = uuid.uuid4().hex
    conn.execute(
        "INSERT INTO outbox_batches (key, operation, target, first_id, last_id, user_id, case_id,"
        " records, created_at, attempts, next_attempt_at, lease_owner, lease_until)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?)",
        (
            key,
            operation,
            target,
            head_id,
            ids[-1],
            user_id,
            case_id,
            len(ids),
            created_at,
            now,
            owner,
            now + lease,
        ),
    )
    return Batch(key, operation, target, user_id, case_id, ids, joined, 1, created_at, owner)


def _load(
    conn: sqlite3.Connection,
    key: str,
    operation: str,
    target: str,
    user_id: str | None,
    case_id: str | None,
    first: int,
    last: int,
    owner: str,
) -> Batch:
    attempts, created_at = conn.execute(
        "SELECT attempts, created_at FROM outbox_batches WHERE key = ?", (key,)
    ).fetchone()
    ids, joined, _ = _read(conn, operation, target, first, last)
    return Batch(key, operation, target, user_id, case_id, ids, joined, attempts, created_at, owner)


def _read(
    conn: sqlite3.Connection, operation: str, target: str, first: int, last: int
) -> tuple[list[int], bytes, float]:
    """Ids, joined payloads and oldest enqueue time of a target's rows in ``first..last``.

    SQLite joins the payloads itself (no Python object per record). It joins in the order it
    reads, which for this rowid range is id order; the ids joined in the same pass prove it, and
    if they ever did not, the rows are read one by one instead.
    """
    id_text, joined, created_at = conn.execute(
        "SELECT group_concat(id), CAST(group_concat(payload, ',') AS BLOB), min(created_at) FROM"
        " (SELECT id, payload, created_at FROM outbox WHERE id BETWEEN ? AND ?"
        " AND operation = ? AND target = ? ORDER BY id)",
        (first, last, operation, target),
    ).fetchone()
    ids = list(map(int, id_text.split(",")))
    if ids != sorted(ids):
        rows = conn.execute(
            "SELECT id, payload FROM outbox WHERE id BETWEEN ? AND ? AND operation = ?"
            " AND target = ? ORDER BY id",
            (first, last, operation, target),
        ).fetchall()
        ids, joined = [r[0] for r in rows], b",".join(r[1] for r in rows)
    return ids, joined, created_at


def _read_batch(
    conn: sqlite3.Connection, head: tuple[Any, ...], size: int
) -> tuple[list[int], bytes, float]:
    """Ids, joined payloads and oldest enqueue time of the batch that starts at ``head``: up to
    ``size`` rows of its target, stopping before a row of that target with another user or case.

    One pass reads and joins the first ``size`` rows of the target from ``head`` on and notes the
    first row with another user or case; only when there is one (a rare mixed run) are the rows
    before it read again on their own.
    """
    head_id, operation, target, user_id, case_id = head
    count, offsets, joined, created_at, mismatch = conn.execute(
        "SELECT count(*), group_concat(id - ?), CAST(group_concat(payload, ',') AS BLOB),"
        " min(created_at), min(CASE WHEN user_id IS NOT ? OR case_id IS NOT ? THEN id END) FROM"
        " (SELECT id, payload, created_at, user_id, case_id FROM outbox WHERE operation = ?"
        " AND target = ? AND id >= ? ORDER BY id LIMIT ?)",
        (head_id, user_id, case_id, operation, target, head_id, size),
    ).fetchone()
    if mismatch is not None:
        return _read(conn, operation, target, head_id, mismatch - 1)
    # The ids as offsets from the head, joined in the same pass as the payloads: for the usual
    # batch of consecutive ids in order the text is "0,1,2,...", compared whole without parsing.
    if offsets == _consecutive(count):
        return list(range(head_id, head_id + count)), joined, created_at
    ids = [head_id + int(offset) for offset in offsets.split(",")]
    if ids != sorted(ids):
        return _read(conn, operation, target, head_id, max(ids))
    return ids, joined, created_at


@functools.lru_cache(maxsize=16)
def _consecutive(count: int) -> str:
    return ",".join(map(str, range(count)))


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
        "SELECT o.id, o.operation, o.target, o.user_id, o.case_id FROM outbox o"
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
