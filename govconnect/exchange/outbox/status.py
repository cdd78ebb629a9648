"""What the outbox holds, for operators and for idle workers: counts by state (``OutboxStatus``),
pending records, when something is next due; forgetting old lines of the delivered log; and
which correction notices it ever queued (never forgotten).

Written once for both engines: the SQL is plain enough for SQLite and PostgreSQL, and
:func:`~.portable.execute` gives psycopg its ``%s`` where SQLite takes ``?``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .portable import execute, in_values, insert_rows, is_sqlite

__all__ = [
    "OutboxStatus",
    "count_pending",
    "dead_keys",
    "execute",
    "known_notices",
    "next_due_at",
    "purge_delivered",
    "read_status",
    "remember_notices",
]


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    pending: int
    due: int
    in_flight: int
    waiting: int
    dead: int
    dead_records: int
    delivered_batches: int
    delivered_records: int
    oldest_pending: float | None


def read_status(conn: Any, now: float) -> OutboxStatus:
    """Records by state at ``now`` (leased, waiting for a retry, due), dead letters, deliveries."""
    pending, oldest = conn.execute(
        "SELECT coalesce(sum(records), 0), min(created_at) FROM outbox"
    ).fetchone()
    in_flight, waiting = execute(
        conn,
        "SELECT coalesce(sum(CASE WHEN lease_until > ? THEN records END), 0),"
        " coalesce(sum(CASE WHEN coalesce(lease_until, 0) <= ? AND next_attempt_at > ?"
        " THEN records END), 0) FROM outbox_batches",
        (now, now, now),
    ).fetchone()
    dead, dead_records = conn.execute(
        "SELECT count(*), coalesce(sum(records), 0) FROM outbox_dead"
    ).fetchone()
    batches, records = conn.execute(
        "SELECT count(*), coalesce(sum(records), 0) FROM outbox_delivered"
    ).fetchone()
    return OutboxStatus(
        pending,
        pending - in_flight - waiting,
        in_flight,
        waiting,
        dead,
        dead_records,
        batches,
        records,
        oldest,
    )


def count_pending(conn: Any) -> int:
    """Records (and status changes) not yet delivered nor dead-lettered."""
    return conn.execute("SELECT coalesce(sum(records), 0) FROM outbox").fetchone()[0]


def next_due_at(conn: Any, now: float) -> float | None:
    """When something may next be claimable (wall-clock), or None when the outbox is empty;
    ``now`` when no batch is live (nothing waits for one: look again at once)."""
    if conn.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is None:
        return None
    row = conn.execute(
        "SELECT min(CASE WHEN next_attempt_at > coalesce(lease_until, 0) THEN next_attempt_at"
        " ELSE lease_until END) FROM outbox_batches"
    ).fetchone()
    return row[0] if row[0] is not None else now


def purge_delivered(conn: Any, delivered_before: float) -> int:
    """Forget delivered batches older than ``delivered_before`` (wall-clock seconds)."""
    return execute(
        conn, "DELETE FROM outbox_delivered WHERE delivered_at < ?", (delivered_before,)
    ).rowcount


def _found(conn: Any, sql: str, column: str, keys: list[str]) -> set[str]:
    """The values of ``column`` among ``keys`` that ``sql`` (``… WHERE {cond}``) finds, asked
    500 at a time (on an indexed column: one index lookup each)."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        cond, params = in_values(is_sqlite(conn), column, keys[start : start + 500])
        found.update(row[0] for row in execute(conn, sql.format(cond=cond), params).fetchall())
    return found


def known_notices(conn: Any, ids: list[str]) -> set[str]:
    """Which of the correction notice ``ids`` the outbox ever queued (``outbox_notices``, never
    purged): how a rerun of the cross-check queues each notice once, ever."""
    return _found(conn, "SELECT notice_id FROM outbox_notices WHERE {cond}", "notice_id", ids)


def dead_keys(conn: Any, keys: list[str]) -> set[str]:
    """Which of the batch ``keys`` are dead letters now (not queued again until replayed)."""
    return _found(conn, "SELECT batch_key FROM outbox_dead WHERE {cond}", "batch_key", keys)


def remember_notices(conn: Any, ids: list[str], now: float) -> None:
    """Record ``ids`` as queued at ``now``, in the caller's transaction (the one that queues
    them); each must be new (:func:`known_notices`)."""
    insert_rows(conn, "INSERT INTO outbox_notices (notice_id, queued_at)", [(i, now) for i in ids])
