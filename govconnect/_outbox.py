"""The durable outbox: every outgoing exchange is committed to SQLite before anything is sent.

One row per record (or per case status change) in ``outbox``; the delivery worker claims rows in
batches inside ``BEGIN IMMEDIATE`` transactions, so several threads or processes can drain one file
without sending a row twice at once. A batch gets its idempotency key when it is first claimed and
keeps it for every retry, every crash and every replay: the platform refuses a re-send as a
duplicate, which makes delivery exactly-once at the platform.

Rows for one target (a resource, or a case's statuses) are delivered in enqueue order: while a batch
of a target is in flight or waiting for its retry, later rows of that target wait too, so an older
upsert never overtakes a newer delete, nor ``completed`` overtake ``accepted``.

Delivered rows leave ``outbox`` and leave one line per batch in ``outbox_delivered``; batches that
failed for good move to ``outbox_dead`` with the reason, to be inspected and replayed.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from . import _platform as P
from ._client import status_body
from ._events import EventKind, ExchangeEvent
from ._exceptions import ConfigurationError, InvalidInputError, Problem
from ._observers import Observers
from ._outbox_claims import BATCHES_SCHEMA, Batch, claim_one

__all__ = ["Batch", "DeadLetter", "Observers", "Outbox", "OutboxStatus"]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id              INTEGER PRIMARY KEY,
    operation       TEXT NOT NULL,
    target          TEXT NOT NULL,
    payload         BLOB NOT NULL,
    user_id         TEXT,
    case_id         TEXT,
    created_at      REAL NOT NULL,
    next_attempt_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_delivered (
    batch_key    TEXT PRIMARY KEY,
    operation    TEXT NOT NULL,
    target       TEXT NOT NULL,
    records      INTEGER NOT NULL,
    first_id     INTEGER NOT NULL,
    last_id      INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    duplicate    INTEGER NOT NULL,
    delivered_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_delivered_at ON outbox_delivered(delivered_at);
CREATE TABLE IF NOT EXISTS outbox_dead (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_key  TEXT NOT NULL,
    operation  TEXT NOT NULL,
    target     TEXT NOT NULL,
    user_id    TEXT,
    case_id    TEXT,
    records    INTEGER NOT NULL,
    entries    BLOB NOT NULL,
    attempts   INTEGER NOT NULL,
    dead_at    REAL NOT NULL,
    reason     TEXT NOT NULL,
    problems   TEXT NOT NULL
);
"""

PAGE_SIZE = 16384

_INSERT = (
    "INSERT INTO outbox (operation, target, payload, user_id, case_id, created_at, next_attempt_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


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


class Outbox:
    """A durable outbox in one SQLite file (WAL mode); share one object between threads.

    ``synchronous`` is SQLite's ``PRAGMA synchronous``: ``FULL`` (default) survives power loss,
    ``NORMAL`` survives a process crash (kill -9) and is faster. ``clock`` gives wall-clock seconds.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        busy_timeout: float = 30.0,
        pm: Any = None,
        on_event: Callable[[ExchangeEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ConfigurationError(
                f"synchronous must be OFF/NORMAL/FULL/EXTRA, not {synchronous!r}"
            )
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.observers = Observers(pm, on_event)
        self.clock = clock
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._conn().executescript(f"BEGIN IMMEDIATE; {SCHEMA} {BATCHES_SCHEMA} COMMIT;")
        self._migrate()
        with self._write() as conn:
            row = conn.execute("SELECT value FROM outbox_meta WHERE key = 'uid'").fetchone()
            if row is None:
                conn.execute("INSERT INTO outbox_meta VALUES ('uid', ?)", (uuid.uuid4().hex,))

    def _migrate(self) -> None:
        """Bring an outbox file of the first schema (claims stored on each row) up to this one:
        its claimed rows become ``outbox_batches`` rows with the same keys, leases dropped."""
        columns = {row[1] for row in self._conn().execute("PRAGMA table_info(outbox)")}
        if "batch_key" not in columns:
            return
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO outbox_batches (key, operation, target, first_id, last_id,"
                " user_id, case_id, records, created_at, attempts, next_attempt_at, last_error)"
                " SELECT batch_key, operation, target, min(id), max(id), user_id, case_id,"
                " count(*), min(created_at), max(attempts), max(next_attempt_at), max(last_error)"
                " FROM outbox WHERE batch_key IS NOT NULL GROUP BY batch_key"
            )
            conn.execute("DROP INDEX IF EXISTS outbox_by_batch")
            for column in (
                "attempts",
                "batch_key",
                "batch_end",
                "lease_owner",
                "lease_until",
                "last_error",
            ):
                if column in columns:
                    conn.execute(f"ALTER TABLE outbox DROP COLUMN {column}")

    # --- connections ---------------------------------------------------------------------------

    def _conn(self, *, relaxed: bool = False) -> sqlite3.Connection:
        """This thread's connection; ``relaxed`` is a second one that commits without fsync."""
        name = "relaxed" if relaxed else "conn"
        conn = getattr(self._local, name, None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            # A new file gets 16 KiB pages (fewer pages to read, free and log per batch: about a
            # fifth less CPU per claim and settle); an existing file keeps its own.
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            level = "NORMAL" if relaxed and self.synchronous in {"FULL", "EXTRA"} else None
            conn.execute(f"PRAGMA synchronous={level or self.synchronous}")
            setattr(self._local, name, conn)
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on exit, rolled back on any error.

        ``durable=False`` commits with ``synchronous=NORMAL`` (no fsync): for bookkeeping whose
        loss in a power failure is harmless because it is redone safely — a lost "delivered" mark
        means a re-send under the same key, which the platform refuses as a duplicate. Enqueues,
        claims (which fix the idempotency key) and dead letters always use the configured level.
        """
        conn = getattr(self._local, "transaction", None)
        if conn is not None:  # inside transaction(): a savepoint, so this block stays atomic
            conn.execute("SAVEPOINT outbox_write")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK TO outbox_write")
                    conn.execute("RELEASE outbox_write")
                raise
            conn.execute("RELEASE outbox_write")
            return
        conn = self._conn(relaxed=not durable)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Join this thread's outbox writes inside into one durable transaction (one commit).

        Each write inside stays atomic on its own (a savepoint): one that fails is undone and its
        exception propagates, and whatever the caller goes on to write still commits together.
        The delivery worker records a run of outcomes and claims its next batches this way.
        """
        if getattr(self._local, "transaction", None) is not None:
            yield
            return
        with self._write() as conn:
            self._local.transaction = conn
            try:
                yield
            finally:
                self._local.transaction = None

    def close(self) -> None:
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()
        self._local = threading.local()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- enqueue -------------------------------------------------------------------------------

    def enqueue(
        self,
        resource_code: str,
        records: Iterable[Mapping[str, Any]],
        *,
        user_id: str | None = None,
        case_id: str | None = None,
        within: Callable[[sqlite3.Connection], None] | None = None,
    ) -> range:
        """Commit records for publishing to ``resource_code``; returns their outbox ids.

        All or nothing: a record that breaks the contract (not an object, a bad ``op``, a delete
        without ``id``, not JSON-serialisable) refuses the whole call, naming ``records[i]``.
        ``within(conn)`` runs inside the same transaction, so state that must move together with
        the records (a publishing bookmark) commits or rolls back with them.
        """
        if not P.RESOURCE_CODE_PATTERN.match(resource_code):
            raise InvalidInputError([Problem("resource_code", "pattern", "like 111112001/2001")])
        now = self.clock()
        dumps, ops = orjson.dumps, P.RECORD_OPS

        def rows() -> Iterator[tuple[Any, ...]]:
            # The hot loop of a bulk enqueue: keep it to a type check, one lookup and the encoding.
            for i, record in enumerate(records):
                if type(record) is not dict:
                    if not isinstance(record, Mapping):
                        raise InvalidInputError([Problem(f"records[{i}]", "type", "an object")])
                    record = dict(record)
                op = record.get("op")
                if op is not None:
                    if op not in ops:
                        raise InvalidInputError(
                            [Problem(f"records[{i}].op", "enum", "upsert|delete")]
                        )
                    if op == "delete" and "id" not in record:
                        raise InvalidInputError([Problem(f"records[{i}].id", "required", "delete")])
                try:
                    payload = dumps(record)
                except TypeError as exc:
                    raise InvalidInputError([Problem(f"records[{i}]", "json", str(exc))]) from exc
                yield ("publish", resource_code, payload, user_id, case_id, now, now)

        return self._insert(rows(), "publish", resource_code, case_id, within)

    def enqueue_encoded(
        self,
        resource_code: str,
        payloads: Iterable[bytes],
        *,
        user_id: str | None = None,
        within: Callable[[sqlite3.Connection], None] | None = None,
    ) -> range:
        """Like :meth:`enqueue` for records the caller already encoded as JSON objects (the
        dataset publisher validates and encodes whole batches at once and is trusted here)."""
        if not P.RESOURCE_CODE_PATTERN.match(resource_code):
            raise InvalidInputError([Problem("resource_code", "pattern", "like 111112001/2001")])
        now = self.clock()
        rows = (("publish", resource_code, p, user_id, None, now, now) for p in payloads)
        return self._insert(rows, "publish", resource_code, None, within)

    def enqueue_status(
        self,
        case_id: str,
        status: str,
        *,
        result: Mapping[str, Any] | None = None,
        reasons: Sequence[str] | None = None,
        user_id: str | None = None,
        within: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int:
        """Commit a case status change (with result data) for posting; returns its outbox id.

        ``within(conn)`` runs in the same transaction (the intake journal records the case there,
        so a case is never both unreported and marked finished, nor reported twice)."""
        body = orjson.dumps(status_body(status, result=result, reasons=reasons))
        now = self.clock()
        ids = self._insert(
            iter([("status", case_id, body, user_id, case_id, now, now)]),
            "status",
            None,
            case_id,
            within,
        )
        return ids[0]

    def _insert(
        self,
        rows: Iterator[tuple[Any, ...]],
        operation: str,
        resource: str | None,
        case: str | None,
        within: Callable[[sqlite3.Connection], None] | None = None,
    ) -> range:
        with self._write() as conn:
            cursor = conn.executemany(_INSERT, rows)
            count = cursor.rowcount
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0] if count else 0
            if within is not None:
                within(conn)
        ids = range(last - count + 1, last + 1)
        if count:
            self.observers.emit(
                ExchangeEvent(
                    EventKind.ENQUEUED,
                    str(ids[0]),
                    operation,
                    resource_code=resource,
                    case_id=case,
                    records=count,
                    extra={"last_id": ids[-1]},
                )
            )
        return ids

    # --- claiming and settling (used by the delivery worker) -----------------------------------

    def claim(
        self, owner: str, *, batch_size: int = 500, lease: float = 30.0, scan_limit: int = 1_000_000
    ) -> Batch | None:
        """Lease the next due batch to ``owner``, or None when nothing is due now."""
        batches = self.claim_many(
            owner, 1, batch_size=batch_size, lease=lease, scan_limit=scan_limit
        )
        return batches[0] if batches else None

    def claim_many(
        self,
        owner: str,
        count: int,
        *,
        batch_size: int = 500,
        lease: float = 30.0,
        scan_limit: int = 1_000_000,
    ) -> list[Batch]:
        """Lease up to ``count`` due batches to ``owner`` in one transaction (one fsync).

        Batches of one target come back in order; the owner must send them in that order and give
        back (:meth:`release`) those behind one that has to wait for a retry.
        """
        now = self.clock()
        batches: list[Batch] = []
        with self._write() as conn:
            for _ in range(count):
                batch = claim_one(conn, owner, now, batch_size, lease, scan_limit)
                if batch is None:
                    break
                batches.append(batch)
        return batches

    def mark_delivered(self, batch: Batch, *, duplicate: bool = False) -> None:
        """The platform applied (or had already applied) the batch: it leaves the outbox."""
        self.mark_delivered_many([(batch, duplicate)])

    def mark_delivered_many(self, delivered: Sequence[tuple[Batch, bool]]) -> None:
        """Several delivered batches (with their duplicate flags) in one transaction."""
        now = self.clock()
        with self._write(durable=False) as conn:
            for batch, duplicate in delivered:
                if conn.execute("DELETE FROM outbox_batches WHERE key = ?", (batch.key,)).rowcount:
                    _delete_rows(conn, batch)
                conn.execute(
                    "INSERT OR IGNORE INTO outbox_delivered VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        batch.key,
                        batch.operation,
                        batch.target,
                        len(batch.ids),
                        batch.ids[0],
                        batch.ids[-1],
                        batch.attempt,
                        int(duplicate),
                        now,
                    ),
                )

    def reschedule(self, batch: Batch, delay: float, error: str) -> None:
        """Release the lease; the batch (same key) is due again in ``delay`` seconds."""
        with self._write(durable=False) as conn:
            conn.execute(
                "UPDATE outbox_batches SET lease_owner = NULL, lease_until = NULL,"
                " next_attempt_at = ?, last_error = ? WHERE key = ? AND lease_owner = ?",
                (self.clock() + delay, error[:2000], batch.key, batch.owner),
            )

    def release(self, batch: Batch) -> None:
        """Give a claimed batch back unsent (same key, due as before): a pipelining worker whose
        previous batch of the same target must wait for a retry returns the next one this way."""
        with self._write(durable=False) as conn:
            conn.execute(
                "UPDATE outbox_batches SET lease_owner = NULL, lease_until = NULL,"
                " attempts = attempts - 1 WHERE key = ? AND lease_owner = ?",
                (batch.key, batch.owner),
            )

    def bury(self, batch: Batch, reason: str, problems: Sequence[Problem] = ()) -> int | None:
        """Move the batch to dead letters with ``reason``; returns the dead letter's id."""
        with self._write() as conn:
            if not conn.execute("DELETE FROM outbox_batches WHERE key = ?", (batch.key,)).rowcount:
                return None  # settled meanwhile by a worker that had reclaimed it
            rows = conn.execute(
                "SELECT id, created_at, payload FROM outbox WHERE id BETWEEN ? AND ?"
                " AND operation = ? AND target = ? ORDER BY id",
                (*batch.span, batch.operation, batch.target),
            ).fetchall()
            entries = orjson.dumps(
                [{"id": i, "created_at": c, "payload": orjson.Fragment(p)} for i, c, p in rows]
            )
            cursor = conn.execute(
                "INSERT INTO outbox_dead (batch_key, operation, target, user_id, case_id, records,"
                " entries, attempts, dead_at, reason, problems) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    batch.key,
                    batch.operation,
                    batch.target,
                    batch.user_id,
                    batch.case_id,
                    len(rows),
                    entries,
                    batch.attempt,
                    self.clock(),
                    reason[:2000],
                    orjson.dumps([p.as_dict() for p in problems]).decode(),
                ),
            )
            _delete_rows(conn, batch)
            return cursor.lastrowid

    # --- dead letters --------------------------------------------------------------------------

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = self._conn().execute(
            "SELECT id, batch_key, operation, target, records, attempts, dead_at, reason, problems"
            " FROM outbox_dead ORDER BY id LIMIT ?",
            (limit,),
        )
        return [DeadLetter(*row[:8], [Problem(**p) for p in orjson.loads(row[8])]) for row in rows]

    def replay(self, dead_ids: Iterable[int] | None = None) -> int:
        """Put dead batches back (all of them when ``dead_ids`` is None); returns batches replayed.

        A replayed batch keeps its idempotency key, so if the platform did apply it before the
        batch was given up, the replay is acknowledged as a duplicate, not applied twice. Its rows
        get new ids: they are due now, after whatever was enqueued meanwhile.
        """
        now = self.clock()
        replayed = []
        with self._write() as conn:
            if dead_ids is None:
                rows = conn.execute("SELECT * FROM outbox_dead ORDER BY id").fetchall()
            else:
                rows = [
                    row
                    for i in dead_ids
                    if (
                        row := conn.execute(
                            "SELECT * FROM outbox_dead WHERE id = ?", (i,)
                        ).fetchone()
                    )
                ]
            for dead_id, key, operation, target, user_id, case_id, records, entries, *_ in rows:
                entry_rows = orjson.loads(entries)
                conn.executemany(
                    _INSERT,
                    [
                        (operation, target, orjson.dumps(e["payload"]), user_id, case_id, now, now)
                        for e in entry_rows
                    ],
                )
                last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
                conn.execute(
                    "INSERT INTO outbox_batches (key, operation, target, first_id, last_id,"
                    " user_id, case_id, records, created_at, next_attempt_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        operation,
                        target,
                        last - len(entry_rows) + 1,
                        last,
                        user_id,
                        case_id,
                        len(entry_rows),
                        now,
                        now,
                    ),
                )
                conn.execute("DELETE FROM outbox_dead WHERE id = ?", (dead_id,))
                replayed.append((key, operation, target, case_id, records, dead_id))
        for key, operation, target, case_id, records, dead_id in replayed:
            self.observers.emit(
                ExchangeEvent(
                    EventKind.REPLAYED,
                    key,
                    operation,
                    resource_code=target if operation == "publish" else None,
                    case_id=case_id,
                    records=records,
                    extra={"dead_letter": dead_id},
                )
            )
        return len(replayed)

    # --- inspection and housekeeping -----------------------------------------------------------

    def status(self) -> OutboxStatus:
        now = self.clock()
        conn = self._conn()
        pending, oldest = conn.execute("SELECT count(*), min(created_at) FROM outbox").fetchone()
        in_flight, waiting = conn.execute(
            "SELECT coalesce(sum(CASE WHEN lease_until > ?1 THEN records END), 0),"
            " coalesce(sum(CASE WHEN coalesce(lease_until, 0) <= ?1 AND next_attempt_at > ?1"
            " THEN records END), 0) FROM outbox_batches",
            (now,),
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

    def pending(self) -> int:
        return self._conn().execute("SELECT count(*) FROM outbox").fetchone()[0]

    def next_due(self) -> float | None:
        """When something may next be claimable (wall-clock), or None when the outbox is empty.

        Asked after a claim found nothing: then every pending row waits behind a batch, so the
        earliest moment a batch's retry falls due or its lease runs out is the time to look again.
        """
        conn = self._conn()
        if conn.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is None:
            return None
        row = conn.execute(
            "SELECT min(max(next_attempt_at, coalesce(lease_until, 0))) FROM outbox_batches"
        ).fetchone()
        return row[0] if row[0] is not None else self.clock()

    def purge(self, delivered_before: float) -> int:
        """Forget delivered batches older than ``delivered_before`` (wall-clock seconds)."""
        with self._write() as conn:
            return conn.execute(
                "DELETE FROM outbox_delivered WHERE delivered_at < ?", (delivered_before,)
            ).rowcount


def _delete_rows(conn: sqlite3.Connection, batch: Batch) -> None:
    conn.execute(
        "DELETE FROM outbox WHERE id BETWEEN ? AND ? AND operation = ? AND target = ?",
        (*batch.span, batch.operation, batch.target),
    )
