"""The intake journal: the durable record that makes each case apply once.

It remembers which cases this node has finished (and how), which legacy status changes it has
reported, how often a case failed on our side, and each connector's status-poll bookmark. Its tables
live in the outbox's own SQLite file and are written in the same transaction as the status that
reports the case, so a redelivered case is acknowledged again but never written or reported twice.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from .report import CaseOutcome

__all__ = ["IntakeJournal"]


class IntakeJournal:
    """Which cases this node has finished, and which legacy status changes it has reported.

    Its tables live in the outbox's SQLite file and are written inside the outbox transaction that
    enqueues the status (``recorder`` / ``status_marker`` give the ``within`` callbacks): a case is
    finished exactly when its status is queued. It is what makes a redelivered case a no-op.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS intake_cases (
                case_id TEXT PRIMARY KEY, matter_code TEXT NOT NULL, outcome TEXT NOT NULL,
                reference TEXT, problems TEXT NOT NULL, fields INTEGER NOT NULL, at REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS intake_status_sent (
                case_id TEXT NOT NULL, status TEXT NOT NULL, at REAL NOT NULL,
                PRIMARY KEY (case_id, status));
            CREATE TABLE IF NOT EXISTS intake_bookmarks (
                connector TEXT PRIMARY KEY, since TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS intake_attempts (
                case_id TEXT PRIMARY KEY, attempts INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS intake_malformed (
                fingerprint TEXT PRIMARY KEY, problem TEXT NOT NULL, at REAL NOT NULL);
            """
        )

    def finished(self, case_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT outcome FROM intake_cases WHERE case_id = ?", (case_id,)
            ).fetchone()
        return row[0] if row else None

    def recorder(self, outcome: CaseOutcome, status: str) -> Callable[[sqlite3.Connection], None]:
        """The journal rows for a finished case, for the outbox transaction that reports it."""
        problems = json.dumps([p.as_dict() for p in outcome.problems], ensure_ascii=False)
        row = (
            outcome.case_id,
            outcome.matter_code,
            outcome.outcome,
            outcome.reference,
            problems,
            outcome.fields_filled,
            time.time(),
        )

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO intake_cases VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            conn.execute(
                "INSERT OR IGNORE INTO intake_status_sent VALUES (?, ?, ?)",
                (outcome.case_id, status, row[-1]),
            )

        return apply

    @staticmethod
    def status_marker(case_id: str, status: str) -> Callable[[sqlite3.Connection], None]:
        """The journal row for a reported legacy status change, for the outbox transaction."""

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO intake_status_sent VALUES (?, ?, ?)",
                (case_id, status, time.time()),
            )

        return apply

    def count_attempt(self, case_id: str) -> int:
        """One more failed attempt at a case on our side; returns how many there were."""
        with self._lock:
            self._db.execute(
                "INSERT INTO intake_attempts VALUES (?, 1) "
                "ON CONFLICT(case_id) DO UPDATE SET attempts = attempts + 1",
                (case_id,),
            )
            row = self._db.execute(
                "SELECT attempts FROM intake_attempts WHERE case_id = ?", (case_id,)
            ).fetchone()
        return int(row[0])

    def record_malformed(self, fingerprint: str, problem: str) -> None:
        """Remember a pulled element that breaks the contract (by its digest: it has no usable id),
        so later rounds skip it instead of reporting it again forever."""
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO intake_malformed VALUES (?, ?, ?)",
                (fingerprint, problem, time.time()),
            )

    def malformed_known(self, fingerprint: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM intake_malformed WHERE fingerprint = ?", (fingerprint,)
            ).fetchone()
        return row is not None

    def status_sent(self, case_id: str, status: str) -> bool:
        with self._lock:
            return (
                self._db.execute(
                    "SELECT 1 FROM intake_status_sent WHERE case_id = ? AND status = ?",
                    (case_id, status),
                ).fetchone()
                is not None
            )

    def bookmark(self, connector: str) -> datetime | None:
        with self._lock:
            row = self._db.execute(
                "SELECT since FROM intake_bookmarks WHERE connector = ?", (connector,)
            ).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def set_bookmark(self, connector: str, since: datetime) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO intake_bookmarks VALUES (?, ?)",
                (connector, since.isoformat()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
