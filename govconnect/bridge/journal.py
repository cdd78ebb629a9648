"""The intake journal: the durable record that makes each case apply once.

It remembers which cases this node has finished (and how), which legacy status changes it has
reported, how often a case failed on our side, each connector's status-poll bookmark, and which
intake process is working on which case right now. Its tables live in the outbox's own store — the
SQLite file, or the PostgreSQL schema — and are written in the same transaction as the status that
reports the case, so a redelivered case is acknowledged again but never written or reported twice.

Two ``intake run`` processes for one node (an HA pair) share one journal on PostgreSQL (or one
file on one machine). A case is worked on by one process at a time: :meth:`IntakeJournal.claim`
takes a lease on it (a row in ``intake_claims``) before the legacy write, and the status that
reports it deletes the claim in its transaction. A process that dies mid-case leaves a claim that
expires; the case, unacknowledged, comes back and the other process takes it (the sink, idempotent
by case id, answers "duplicate" if the write had happened). Reporting is guarded on its own:
``intake_status_sent`` has one row per case and status, and a transaction that finds the row
already there is rolled back (:class:`AlreadyReported`), so even a process that lost its lease
(paused past it) cannot report a case twice.

Each finished case keeps how its applicant was authenticated at the one window (level, issuer,
method, time: ``auth_*`` columns); :meth:`IntakeJournal.entry` shows a case's row. A journal of an
earlier release gains those columns when next opened (:func:`_add_auth_columns`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .._exceptions import RetryableError
from ..exchange.outbox.portable import execute, is_sqlite
from ..exchange.outbox.store import Outbox
from .report import CaseOutcome

__all__ = ["AlreadyReported", "IntakeJournal"]

_TABLES = """
CREATE TABLE IF NOT EXISTS intake_cases (
    case_id TEXT PRIMARY KEY, matter_code TEXT NOT NULL, outcome TEXT NOT NULL,
    reference TEXT, problems TEXT NOT NULL, fields INTEGER NOT NULL, at double precision NOT NULL,
    auth_level TEXT, auth_issuer TEXT, auth_method TEXT, auth_at TEXT);
CREATE TABLE IF NOT EXISTS intake_status_sent (
    case_id TEXT NOT NULL, status TEXT NOT NULL, at double precision NOT NULL,
    PRIMARY KEY (case_id, status));
CREATE TABLE IF NOT EXISTS intake_bookmarks (
    connector TEXT PRIMARY KEY, since TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS intake_attempts (
    case_id TEXT PRIMARY KEY, attempts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS intake_malformed (
    fingerprint TEXT PRIMARY KEY, problem TEXT NOT NULL, at double precision NOT NULL);
CREATE TABLE IF NOT EXISTS intake_claims (
    case_id TEXT PRIMARY KEY, owner TEXT NOT NULL, lease_until double precision NOT NULL)
"""
# ``intake_claims`` is the newest table: an older file gets it (and only it) when next opened.

AUTH_COLUMNS = ("auth_level", "auth_issuer", "auth_method", "auth_at")
"""The applicant-authentication columns of ``intake_cases``, added to an older journal in place."""
_CASE_COLUMNS = ("case_id", "matter_code", "outcome", "reference", "problems", "fields", "at")


class AlreadyReported(Exception):
    """The status was already reported (by this process earlier, or by the other node of an HA
    pair): the transaction that would report it again is rolled back."""


class IntakeJournal:
    """Which cases this node has finished, which legacy status changes it has reported, and
    which cases an intake process is working on.

    ``store``: the :class:`Outbox` whose transactions report the cases (preferred: the journal
    then shares its connections), or an outbox location (a file path, a PostgreSQL URL), opened
    here. Its rows are written inside the outbox transaction that enqueues the status
    (``recorder`` / ``status_marker`` give the ``within`` callbacks): a case is finished exactly
    when its status is queued. It is what makes a redelivered case a no-op.
    """

    def __init__(self, store: Outbox | str | os.PathLike[str]) -> None:
        self._owns_outbox = not isinstance(store, Outbox)
        self.outbox = store if isinstance(store, Outbox) else Outbox(store)
        self.path: Path | str = self.outbox.path
        self.outbox.create_tables("intake_journal", _TABLES, "intake_claims")
        if not set(AUTH_COLUMNS) <= self._case_columns():
            self.outbox.write_state(_add_auth_columns)

    def _case_columns(self) -> set[str]:
        sql = (
            "SELECT name FROM pragma_table_info('intake_cases')"
            if self.outbox.is_file
            else "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'intake_cases'"
        )
        return {row[0] for row in self.outbox.read(sql)}

    def finished(self, case_id: str) -> str | None:
        rows = self.outbox.read("SELECT outcome FROM intake_cases WHERE case_id = ?", (case_id,))
        return rows[0][0] if rows else None

    def entry(self, case_id: str) -> dict[str, Any] | None:
        """A finished case's journal row (outcome, reference, problems, the applicant's
        authentication), for inspection; ``None`` for a case not finished here."""
        columns = (*_CASE_COLUMNS, *AUTH_COLUMNS)
        sql = f"SELECT {', '.join(columns)} FROM intake_cases WHERE case_id = ?"
        rows = self.outbox.read(sql, (case_id,))
        if not rows:
            return None
        entry = dict(zip(columns, rows[0], strict=True))
        entry["problems"] = json.loads(entry["problems"])
        return entry

    def recorder(self, outcome: CaseOutcome, status: str) -> Callable[[Any], None]:
        """The journal rows for a finished case, for the outbox transaction that reports it;
        raises :class:`AlreadyReported` (rolling the transaction back) if the status is."""
        problems = json.dumps([p.as_dict() for p in outcome.problems], ensure_ascii=False)
        auth = outcome.auth
        at = time.time()
        row = (
            outcome.case_id,
            outcome.matter_code,
            outcome.outcome,
            outcome.reference,
            problems,
            outcome.fields_filled,
            at,
            outcome.auth_level,
            auth.issuer if auth else None,
            auth.method if auth else None,
            auth.authenticated_at.isoformat() if auth else None,
        )
        columns = (*_CASE_COLUMNS, *AUTH_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
        sql = (
            f"INSERT INTO intake_cases ({', '.join(columns)}) VALUES"
            f" ({', '.join('?' * len(columns))}) ON CONFLICT (case_id) DO UPDATE SET {updates}"
        )

        def apply(conn: Any) -> None:
            _mark_sent(conn, outcome.case_id, status, at)
            execute(conn, sql, row)
            execute(conn, "DELETE FROM intake_claims WHERE case_id = ?", (outcome.case_id,))

        return apply

    @staticmethod
    def status_marker(case_id: str, status: str) -> Callable[[Any], None]:
        """The journal row for a reported legacy status change, for the outbox transaction;
        raises :class:`AlreadyReported` if another process reported it first."""

        def apply(conn: Any) -> None:
            _mark_sent(conn, case_id, status, time.time())

        return apply

    # --- claims (an HA pair: one process per case at a time) ------------------------------------

    def claim(self, case_id: str, owner: str, lease: float) -> bool:
        """Take the case for ``owner`` for ``lease`` seconds, unless another owner's lease on it
        is still running. Committed without an fsync: a claim lost to a power failure only lets
        the other process try the case too, which the sink and :class:`AlreadyReported` absorb."""
        now = time.time()

        def apply(conn: Any) -> bool:
            cursor = execute(
                conn,
                "INSERT INTO intake_claims (case_id, owner, lease_until) VALUES (?, ?, ?) ON CONFLICT (case_id) DO UPDATE"
                " SET owner = excluded.owner, lease_until = excluded.lease_until"
                " WHERE intake_claims.owner = excluded.owner OR intake_claims.lease_until < ?",
                (case_id, owner, now + lease, now),
            )
            return bool(cursor.rowcount)

        return bool(self.outbox.write_state(apply, durable=False))

    def release(self, case_id: str, owner: str) -> None:
        """Give up ``owner``'s claim on a case it did not finish (deferred), so the other
        process (or the next round) may take it at once."""
        self.outbox.write_state(
            lambda conn: execute(
                conn, "DELETE FROM intake_claims WHERE case_id = ? AND owner = ?", (case_id, owner)
            ),
            durable=False,
        )

    # --- attempts, malformed elements, bookmarks --------------------------------------------------

    def count_attempt(self, case_id: str) -> int:
        """One more failed attempt at a case on our side; returns how many there were."""

        def apply(conn: Any) -> int:
            execute(
                conn,
                "INSERT INTO intake_attempts (case_id, attempts) VALUES (?, 1) ON CONFLICT (case_id)"
                " DO UPDATE SET attempts = intake_attempts.attempts + 1",
                (case_id,),
            )
            return int(
                execute(
                    conn, "SELECT attempts FROM intake_attempts WHERE case_id = ?", (case_id,)
                ).fetchone()[0]
            )

        return int(self.outbox.write_state(apply))

    def record_malformed(self, fingerprint: str, problem: str) -> None:
        """Remember a pulled element that breaks the contract (by its digest: it has no usable id),
        so later rounds skip it instead of reporting it again forever."""
        self.outbox.write_state(
            lambda conn: execute(
                conn,
                "INSERT INTO intake_malformed (fingerprint, problem, at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (fingerprint, problem, time.time()),
            )
        )

    def malformed_known(self, fingerprint: str) -> bool:
        sql = "SELECT 1 FROM intake_malformed WHERE fingerprint = ?"
        return bool(self.outbox.read(sql, (fingerprint,)))

    def status_sent(self, case_id: str, status: str) -> bool:
        sql = "SELECT 1 FROM intake_status_sent WHERE case_id = ? AND status = ?"
        return bool(self.outbox.read(sql, (case_id, status)))

    def bookmark(self, connector: str) -> datetime | None:
        sql = "SELECT since FROM intake_bookmarks WHERE connector = ?"
        rows = self.outbox.read(sql, (connector,))
        return datetime.fromisoformat(rows[0][0]) if rows else None

    def set_bookmark(self, connector: str, since: datetime) -> None:
        self.outbox.write_state(
            lambda conn: execute(
                conn,
                "INSERT INTO intake_bookmarks (connector, since) VALUES (?, ?) ON CONFLICT (connector)"
                " DO UPDATE SET since = excluded.since",
                (connector, since.isoformat()),
            )
        )

    def close(self) -> None:
        """Close the outbox the journal opened itself (one it was given stays open)."""
        if self._owns_outbox:
            self.outbox.close()


MIGRATION_LOCK_TIMEOUT = "5s"
"""How long adding the columns on PostgreSQL waits for its exclusive lock on ``intake_cases``:
every other statement on the table queues behind a waiting ``ALTER TABLE``, so the other process
of an HA pair must not be stalled for longer than this."""


def _add_auth_columns(conn: Any) -> None:
    """Give an ``intake_cases`` of an earlier release the authentication columns (its rows keep
    ``NULL``: level not known). Run in one transaction; PostgreSQL's ``IF NOT EXISTS`` and
    SQLite's file lock let processes opening the journal at once both get through.

    On PostgreSQL the ``ALTER TABLE`` waits at most :data:`MIGRATION_LOCK_TIMEOUT` for its lock
    (another process busy on the table: an HA pair's other node) and then gives up with a
    :class:`RetryableError`, nothing changed. Upgrade every intake process of an HA pair together
    (see docs/deployment.md): a node of the earlier release writes ``intake_cases`` by position
    and fails once the columns exist."""
    if is_sqlite(conn):
        have = {row[1] for row in conn.execute("PRAGMA table_info(intake_cases)")}
        for column in AUTH_COLUMNS:
            if column not in have:
                conn.execute(f"ALTER TABLE intake_cases ADD COLUMN {column} TEXT")
        return
    conn.execute("SELECT set_config('lock_timeout', %s, true)", (MIGRATION_LOCK_TIMEOUT,))
    try:
        for column in AUTH_COLUMNS:
            conn.execute(f"ALTER TABLE intake_cases ADD COLUMN IF NOT EXISTS {column} TEXT")
    except Exception as exc:
        if getattr(exc, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        raise RetryableError(
            f"the intake journal's intake_cases gains columns {', '.join(AUTH_COLUMNS)} in this"
            f" release, and its lock was not granted within lock_timeout"
            f" {MIGRATION_LOCK_TIMEOUT} (another intake process is using the table): upgrade"
            " every intake process of an HA pair together, then start again"
        ) from None


_LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's lock_not_available (lock_timeout ran out)


def _mark_sent(conn: Any, case_id: str, status: str, at: float) -> None:
    """Record that ``status`` of the case is reported; :class:`AlreadyReported` if it was."""
    cursor = execute(
        conn,
        "INSERT INTO intake_status_sent (case_id, status, at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (case_id, status, at),
    )
    if cursor.rowcount == 0:
        raise AlreadyReported(f"case {case_id!r}: status {status!r} already reported")
