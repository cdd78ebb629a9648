"""Dead letters: batches that failed for good, kept with the platform's reason in ``outbox_dead``
to be inspected and replayed (under their keys) or left alone by an operator.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..._exceptions import Problem
from .claims import Batch, delete_rows
from .schema import INSERT_ROW
from .status import execute

__all__ = [
    "DEAD_LETTER_COLUMNS",
    "DeadLetter",
    "Replayed",
    "bury_batch",
    "dead_entries",
    "dead_letter",
    "dead_row",
    "read_dead_letters",
    "replay_dead_letters",
    "replayed_chunk",
]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A batch that failed for good, with the platform's reason; replay it with ``Outbox.replay``."""

    id: int
    batch_key: str
    operation: str
    target: str
    records: int
    attempts: int
    dead_at: float
    reason: str
    problems: list[Problem]


Replayed = tuple[str, str, str, str | None, int, int]
"""A replayed dead letter: batch key, operation, target, case id, records, dead letter id."""


def bury_batch(
    conn: sqlite3.Connection, batch: Batch, reason: str, problems: Sequence[Problem], now: float
) -> int | None:
    """Move the batch to dead letters with ``reason``; returns the dead letter's id (None: the
    batch was settled meanwhile by a worker that had reclaimed it)."""
    if not conn.execute("DELETE FROM outbox_batches WHERE key = ?", (batch.key,)).rowcount:
        return None
    rows = conn.execute(
        "SELECT id, created_at, records, payload FROM outbox WHERE id BETWEEN ? AND ?"
        " AND operation = ? AND target = ? ORDER BY id",
        (*batch.span, batch.operation, batch.target),
    ).fetchall()
    cursor = conn.execute(
        "INSERT INTO outbox_dead (batch_key, operation, target, user_id, case_id, records,"
        " entries, attempts, dead_at, reason, problems) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        dead_row(batch, rows, reason, problems, now),
    )
    delete_rows(conn, batch)
    return cursor.lastrowid


def dead_row(
    batch: Batch,
    rows: Sequence[tuple[Any, ...]],
    reason: str,
    problems: Sequence[Problem],
    now: float,
) -> tuple[Any, ...]:
    """The ``outbox_dead`` row (from ``batch_key`` to ``problems``) of a batch buried with its
    ``rows`` (id, created_at, records, payload); both engines insert it."""
    return (
        batch.key,
        batch.operation,
        batch.target,
        batch.user_id,
        batch.case_id,
        sum(row[2] for row in rows),
        dead_entries(rows, batch.operation),
        batch.attempt,
        now,
        reason[:2000],
        orjson.dumps([p.as_dict() for p in problems]).decode(),
    )


def dead_entries(rows: Iterable[tuple[Any, ...]], operation: str) -> bytes:
    """A dead letter's entries from its rows (id, created_at, records, payload): one entry per
    row, a publish row's payload kept as the JSON array of its records. Both engines store it."""
    return orjson.dumps(
        [
            {
                "id": i,
                "created_at": c,
                "records": n,
                "payload": orjson.Fragment(b"[%b]" % p if operation == "publish" else p),
            }
            for i, c, n, p in rows
        ]
    )


DEAD_LETTER_COLUMNS = (
    "id, batch_key, operation, target, records, attempts, dead_at, reason, problems"
)
"""The columns :func:`dead_letter` reads, in order (both engines)."""


def dead_letter(row: Sequence[Any]) -> DeadLetter:
    """A :class:`DeadLetter` from a row of :data:`DEAD_LETTER_COLUMNS`."""
    problems = [Problem(**p) for p in orjson.loads(row[8])]
    return DeadLetter(*row[:8], problems=problems)


def read_dead_letters(conn: Any, limit: int) -> list[DeadLetter]:
    """The first ``limit`` dead letters, oldest first (either engine's connection)."""
    rows = execute(
        conn, f"SELECT {DEAD_LETTER_COLUMNS} FROM outbox_dead ORDER BY id LIMIT ?", (limit,)
    )
    return [dead_letter(row) for row in rows]


def replay_dead_letters(
    conn: sqlite3.Connection, dead_ids: Iterable[int] | None, now: float
) -> list[Replayed]:
    """Put dead batches back as live batches under their keys, due at ``now`` (all of them when
    ``dead_ids`` is None); returns what was replayed, in order."""
    replayed: list[Replayed] = []
    if dead_ids is None:
        rows = conn.execute("SELECT * FROM outbox_dead ORDER BY id").fetchall()
    else:
        rows = [
            row
            for i in dead_ids
            if (row := conn.execute("SELECT * FROM outbox_dead WHERE id = ?", (i,)).fetchone())
        ]
    for dead_id, key, operation, target, user_id, case_id, records, entries, *_ in rows:
        chunks = [replayed_chunk(entry) for entry in orjson.loads(entries)]
        conn.executemany(
            INSERT_ROW,
            [(operation, target, user_id, case_id, n, now, None, p) for n, p in chunks],
        )
        last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        conn.execute(
            "INSERT INTO outbox_batches (key, operation, target, first_id, last_id,"
            " user_id, case_id, records, row_count, created_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                operation,
                target,
                last - len(chunks) + 1,
                last,
                user_id,
                case_id,
                sum(n for n, _ in chunks),
                len(chunks),
                now,
                now,
            ),
        )
        conn.execute("DELETE FROM outbox_dead WHERE id = ?", (dead_id,))
        replayed.append((key, operation, target, case_id, records, dead_id))
    return replayed


def replayed_chunk(entry: dict[str, Any]) -> tuple[int, bytes]:
    """A dead letter's entry as a row again: its record count and payload. Entries written before
    rows held chunks have no count and hold one record's object."""
    payload = orjson.dumps(entry["payload"])
    if "records" not in entry:
        return 1, payload
    if isinstance(entry["payload"], list):
        return entry["records"], payload[1:-1]
    return entry["records"], payload
