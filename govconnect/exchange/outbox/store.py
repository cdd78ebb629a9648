"""The durable outbox: every outgoing exchange is committed to SQLite before anything is sent.

Records enqueued together are stored in chunks of up to ``batch_size`` records, one row each in
``outbox`` (a case status change is a row of its own): committing 100k records writes 200 rows, not
100k, and the delivery worker reads and deletes one row per request instead of 500. The worker
claims rows in batches inside ``BEGIN IMMEDIATE`` transactions, so several threads or processes can
drain one file without sending a row twice at once. A batch gets its idempotency key when it is first claimed and
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
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice, repeat
from pathlib import Path
from typing import Any

import orjson

from ..._exceptions import ConfigurationError, InvalidInputError, Problem
from .. import platform as P
from ..client import status_body
from ..events import EventKind, ExchangeEvent
from ..observers import Observers
from .claims import BATCHES_SCHEMA, Batch, claim_batches

__all__ = ["Batch", "DeadLetter", "Observers", "Outbox", "OutboxStatus"]

log = logging.getLogger("govconnect.exchange.outbox")

OUTBOX_TABLE = """
CREATE TABLE IF NOT EXISTS outbox (
    id         INTEGER PRIMARY KEY,
    operation  TEXT NOT NULL,
    target     TEXT NOT NULL,
    user_id    TEXT,
    case_id    TEXT,
    records    INTEGER NOT NULL,
    created_at REAL NOT NULL,
    batch_key  TEXT,
    payload    BLOB NOT NULL
);
"""
# The payload comes last: a chunk spills into overflow pages, and a column stored after it would
# make every scan that reads only the small columns walk them. ``batch_key`` is the idempotency
# key of a row that is a batch of its own, fixed (and fsynced) with the enqueue: a full chunk, or a
# status change. Rows without one are combined by the claim, which then fixes a key.

SCHEMA = (
    OUTBOX_TABLE
    + """
CREATE TABLE IF NOT EXISTS outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
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
)


PAGE_SIZE = 16384

_INSERT = (
    "INSERT INTO outbox (operation, target, user_id, case_id, records, created_at, batch_key,"
    " payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
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
    ``NORMAL`` survives a process crash (kill -9) and is faster. ``batch_size`` is how many records
    enqueued together share a row, and so the size of the requests they usually go out in (the
    delivery worker never splits a row; it combines small ones). ``secure_delete`` zeroes the
    payloads of delivered rows in the file (SQLite's ``secure_delete``, set explicitly rather than
    left to how SQLite was built); ``False`` keeps only the in-page part zeroed (``FAST``) and
    leaves overflow pages to be overwritten when reused: about a tenth faster drains, with
    delivered personal data lingering in free pages meanwhile. ``clock`` gives wall-clock seconds.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "FULL",
        batch_size: int = 500,
        secure_delete: bool = True,
        busy_timeout: float = 30.0,
        pm: Any = None,
        on_event: Callable[[ExchangeEvent], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ConfigurationError(
                f"synchronous must be OFF/NORMAL/FULL/EXTRA, not {synchronous!r}"
            )
        if not 1 <= batch_size <= P.MAX_BATCH_RECORDS:
            raise ConfigurationError(
                f"batch_size must be between 1 and {P.MAX_BATCH_RECORDS} (the platform's largest"
                f" batch), not {batch_size}"
            )
        self.batch_size = batch_size
        self.secure_delete = "ON" if secure_delete else "FAST"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous.upper()
        self._relaxed = "NORMAL" if self.synchronous in {"FULL", "EXTRA"} else self.synchronous
        self.busy_timeout = busy_timeout
        self.observers = Observers(pm, on_event)
        self.clock = clock
        self._local = threading.local()
        self._work = threading.Event()  # set when this object commits something to deliver
        self._writer = threading.RLock()  # one write transaction at a time in this process
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._conn().executescript(f"BEGIN IMMEDIATE; {SCHEMA} {BATCHES_SCHEMA} COMMIT;")
        self._migrate()
        with self._write() as conn:
            row = conn.execute("SELECT value FROM outbox_meta WHERE key = 'uid'").fetchone()
            if row is None:
                conn.execute("INSERT INTO outbox_meta VALUES ('uid', ?)", (uuid.uuid4().hex,))

    def _migrate(self) -> None:
        """Bring an outbox file of an earlier schema up to this one, in one transaction.

        First schema: claims stored on each row; its claimed rows become ``outbox_batches`` rows
        with the same keys, leases dropped. Second schema: one record per row, payload before the
        small columns; the rows are copied as chunks of one record, batches gain their row count.
        """
        if self._schema_current(self._conn()):
            return
        with self._write() as conn:
            if self._schema_current(conn):  # another process migrated it meanwhile
                return
            columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
            batch_columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox_batches)")}
            if "row_count" not in batch_columns:
                conn.execute(
                    "ALTER TABLE outbox_batches ADD COLUMN row_count INTEGER NOT NULL DEFAULT 0"
                )
                conn.execute("UPDATE outbox_batches SET row_count = records")
            if "batch_key" in columns:
                conn.execute(
                    "INSERT OR IGNORE INTO outbox_batches (key, operation, target, first_id,"
                    " last_id, user_id, case_id, records, row_count, created_at, attempts,"
                    " next_attempt_at, last_error) SELECT batch_key, operation, target, min(id),"
                    " max(id), user_id, case_id, count(*), count(*), min(created_at),"
                    " max(attempts), max(next_attempt_at), max(last_error)"
                    " FROM outbox WHERE batch_key IS NOT NULL GROUP BY batch_key"
                )
                conn.execute("DROP INDEX IF EXISTS outbox_by_batch")
            conn.execute("ALTER TABLE outbox RENAME TO outbox_previous")
            conn.execute(OUTBOX_TABLE)
            conn.execute(
                "INSERT INTO outbox (id, operation, target, user_id, case_id, records, created_at,"
                " batch_key, payload) SELECT id, operation, target, user_id, case_id, 1, created_at,"
                " NULL,"
                " CAST(payload AS BLOB)"
                " FROM outbox_previous"
            )
            conn.execute("DROP TABLE outbox_previous")

    @staticmethod
    def _schema_current(conn: sqlite3.Connection) -> bool:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
        return "records" in columns

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
            conn.execute(f"PRAGMA secure_delete={self.secure_delete}")
            conn.execute(f"PRAGMA synchronous={self._relaxed if relaxed else self.synchronous}")
            setattr(self._local, name, conn)
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on exit, rolled back on any error.

        ``durable`` writes — enqueues, dead letters, replays — commit at the configured
        ``synchronous`` level (``FULL``: fsynced). The rest commits with ``NORMAL`` (no fsync, on
        a second connection): bookkeeping whose loss in a power failure is harmless because it is
        redone safely — a lost "delivered" mark or lease means a re-send under the same key,
        which the platform refuses as a duplicate. Still durable against a process crash either
        way. A relaxed transaction that turns out to need durability (a claim that fixed a new
        idempotency key, :meth:`_fix_keys`; a durable write nested in :meth:`transaction`) is
        followed by :meth:`_sync` before anything acts on it.
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
            if durable:
                self._local.durable = True
            return
        conn = self._conn(relaxed=not durable)
        # Threads of this process queue for the write lock here and are woken the moment it is
        # free; left to SQLite, a blocked BEGIN IMMEDIATE sleeps 1, 2, 5, 10... ms between tries
        # (a producer's commit stalled the delivery helper for that long). Other processes still
        # meet SQLite's busy timeout.
        if not self._writer.acquire(timeout=self.busy_timeout):
            raise sqlite3.OperationalError("database is locked (by another thread of this process)")
        try:
            conn.execute("BEGIN IMMEDIATE")
            self._local.durable = durable
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            if self._local.durable and not durable:
                self._sync()  # still holding the lock: no thread here acts on it unsynced
        finally:
            self._writer.release()

    def _sync(self) -> None:
        """Make everything committed so far durable: a tiny commit at the configured level
        fsyncs the whole write-ahead log, the relaxed commits before it included."""
        if self._relaxed != self.synchronous:
            self._conn().execute(
                "INSERT OR REPLACE INTO outbox_meta VALUES ('synced_at', ?)", (str(self.clock()),)
            )

    def _fix_keys(self) -> None:
        """The current transaction fixed an idempotency key: it must commit durably, since
        nothing may be sent under a key that a power loss could take back."""
        self._local.durable = True

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """Join this thread's outbox writes inside into one transaction (one commit).

        Each write inside stays atomic on its own (a savepoint): one that fails is undone and its
        exception propagates, and whatever the caller goes on to write still commits together.
        ``durable=False`` is for bookkeeping (the delivery worker records a run of outcomes and
        claims its next batches this way): it commits without an fsync unless something inside
        needed one, and then fsyncs before returning.
        """
        if getattr(self._local, "transaction", None) is not None:
            if durable:  # nested in a relaxed one: that one must now commit durably
                self._local.durable = True
            yield
            return
        with self._write(durable=durable) as conn:
            self._local.transaction = conn
            try:
                yield
            finally:
                self._local.transaction = None

    def close_thread(self) -> None:
        """Close the calling thread's connections: a thread that ends calls it (the delivery
        worker's helper and drain threads do), so that finished threads leave none open."""
        for name in ("conn", "relaxed"):
            conn = getattr(self._local, name, None)
            if conn is None:
                continue
            setattr(self._local, name, None)
            with self._conns_lock:
                if conn in self._conns:
                    self._conns.remove(conn)
            conn.close()

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
        """Commit records for publishing to ``resource_code``; returns the ids of the rows that
        hold them (one per ``batch_size`` records).

        All or nothing: a record that breaks the contract (not an object, a bad ``op``, a delete
        without ``id``, not JSON-serialisable) refuses the whole call, naming ``records[i]``.
        ``within(conn)`` runs inside the same transaction, so state that must move together with
        the records (a publishing bookmark) commits or rolls back with them.
        """
        _check_code(resource_code)
        now, size = self.clock(), self.batch_size

        def rows() -> Iterator[tuple[Any, ...]]:
            source, start = iter(records), 0
            while chunk := list(islice(source, size)):
                yield self._row(
                    resource_code,
                    _encode(_checked(chunk, start), start),
                    len(chunk),
                    user_id,
                    case_id,
                    now,
                )
                start += len(chunk)

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
        _check_code(resource_code)
        now, size = self.clock(), self.batch_size

        def rows() -> Iterator[tuple[Any, ...]]:
            chunk: list[bytes] = []
            for payload in payloads:
                chunk.append(payload)
                if len(chunk) == size:
                    yield self._row(resource_code, b",".join(chunk), size, user_id, None, now)
                    chunk = []
            if chunk:
                yield self._row(resource_code, b",".join(chunk), len(chunk), user_id, None, now)

        return self._insert(rows(), "publish", resource_code, None, within)

    def _row(
        self,
        code: str,
        joined: bytes,
        records: int,
        user_id: str | None,
        case_id: str | None,
        now: float,
    ) -> tuple[Any, ...]:
        """A publish row; a full chunk is a batch of its own, keyed now (see ``OUTBOX_TABLE``)."""
        key = uuid.uuid4().hex if records == self.batch_size else None
        return ("publish", code, user_id, case_id, records, now, key, joined)

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
            iter([("status", case_id, user_id, case_id, 1, now, uuid.uuid4().hex, body)]),
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
        """Insert ``rows`` in one transaction; returns their ids. The ENQUEUED event counts the
        records they hold."""
        records = 0

        def counted() -> Iterator[tuple[Any, ...]]:
            nonlocal records
            for row in rows:
                records += row[4]
                yield row

        with self._write() as conn:
            cursor = conn.executemany(_INSERT, counted())
            count = cursor.rowcount
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0] if count else 0
            if within is not None:
                within(conn)
        ids = range(last - count + 1, last + 1)
        if count:
            self._work.set()
            self.observers.emit(
                ExchangeEvent(
                    EventKind.ENQUEUED,
                    str(ids[0]),
                    operation,
                    resource_code=resource,
                    case_id=case,
                    records=records,
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
        held: Collection[str] | None = None,
    ) -> list[Batch]:
        """Lease up to ``count`` due batches to ``owner`` in one transaction.

        Batches of one target come back in order; the owner must send them in that order and give
        back (:meth:`release`) those behind one that has to wait for a retry. ``held``: the keys
        of the batches the owner still holds, unsent or unsettled; any other batch leased to it
        is taken to be lost track of and reclaimed first (see :func:`claim_batches`). The commit
        is fsynced only when a key was fixed or reclaimed (not for full rows, keyed at enqueue).
        """
        with self._write(durable=False) as conn:
            batches, fixed = claim_batches(
                conn, owner, self.clock(), count, batch_size, lease, scan_limit, held
            )
            if fixed:
                self._fix_keys()
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
                        batch.records,
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
                "SELECT id, created_at, records, payload FROM outbox WHERE id BETWEEN ? AND ?"
                " AND operation = ? AND target = ? ORDER BY id",
                (*batch.span, batch.operation, batch.target),
            ).fetchall()
            # One entry per row; a publish row's payload is kept as the JSON array of its records.
            entries = orjson.dumps(
                [
                    {
                        "id": i,
                        "created_at": c,
                        "records": n,
                        "payload": orjson.Fragment(
                            b"[%b]" % p if batch.operation == "publish" else p
                        ),
                    }
                    for i, c, n, p in rows
                ]
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
                    sum(row[2] for row in rows),
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
        return [
            DeadLetter(
                id=row[0],
                batch_key=row[1],
                operation=row[2],
                target=row[3],
                records=row[4],
                attempts=row[5],
                dead_at=row[6],
                reason=row[7],
                problems=[Problem(**p) for p in orjson.loads(row[8])],
            )
            for row in rows
        ]

    def replay(self, dead_ids: Iterable[int] | None = None) -> int:
        """Put dead batches back (all of them when ``dead_ids`` is None); returns batches replayed.

        A replayed batch keeps its idempotency key, so if the platform did apply it before the
        batch was given up, the replay is acknowledged as a duplicate, not applied twice. It is
        due now and goes out before the rows of its target still waiting (it is their oldest);
        rows of its target delivered while it was dead stay delivered, so replaying old upserts
        may apply them after newer ones: the operator decides.
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
                chunks = [_replayed(entry) for entry in orjson.loads(entries)]
                conn.executemany(
                    _INSERT,
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
        if replayed:
            self._work.set()
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
        pending, oldest = conn.execute(
            "SELECT coalesce(sum(records), 0), min(created_at) FROM outbox"
        ).fetchone()
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
        """Records (and status changes) not yet delivered nor dead-lettered."""
        return self._conn().execute("SELECT coalesce(sum(records), 0) FROM outbox").fetchone()[0]

    def wake(self) -> None:
        """Wake the workers of this process idling in :meth:`wait_for_work`."""
        self._work.set()

    def wait_for_work(self, timeout: float) -> None:
        """Return when this object commits something new to deliver, or after ``timeout``
        seconds: an idle worker in this process wakes at once (enqueues by other processes are
        seen on the next look, ``timeout`` later at the latest)."""
        self._work.wait(timeout)
        self._work.clear()

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


def _replayed(entry: dict[str, Any]) -> tuple[int, bytes]:
    """A dead letter's entry as a row again: its record count and payload. Entries written before
    rows held chunks have no count and hold one record's object."""
    payload = orjson.dumps(entry["payload"])
    if "records" not in entry:
        return 1, payload
    if isinstance(entry["payload"], list):
        return entry["records"], payload[1:-1]
    return entry["records"], payload


def _check_code(resource_code: str) -> None:
    if not P.RESOURCE_CODE_PATTERN.match(resource_code):
        raise InvalidInputError([Problem("resource_code", "pattern", "like 111112001/2001")])


_PLAIN_OPS = frozenset({None, "upsert"})


def _checked(chunk: list[Any], start: int) -> list[dict[str, Any]]:
    """The chunk's records as dicts, each checked against the record contract; ``start`` is the
    first one's index in the caller's records, to name the one that breaks it.

    The usual chunk (dicts, no ``op`` but upsert) is recognised by two passes in C; only a chunk
    with other mappings or deletes is checked record by record.
    """
    try:
        if (
            set(map(type, chunk)) == {dict}
            and set(map(dict.get, chunk, repeat("op"))) <= _PLAIN_OPS
        ):
            return chunk
    except TypeError:  # an unhashable "op": named below
        pass
    checked = []
    for i, record in enumerate(chunk, start):
        if type(record) is not dict:
            if not isinstance(record, Mapping):
                raise InvalidInputError([Problem(f"records[{i}]", "type", "an object")])
            record = dict(record)
        op = record.get("op")
        if op is not None:
            if op not in P.RECORD_OPS:
                raise InvalidInputError([Problem(f"records[{i}].op", "enum", "upsert|delete")])
            if op == "delete" and "id" not in record:
                raise InvalidInputError([Problem(f"records[{i}].id", "required", "delete")])
        checked.append(record)
    return checked


def _encode(chunk: list[dict[str, Any]], start: int) -> bytes:
    """The chunk's records as JSON objects joined by commas; ``start`` is the first one's index
    in the caller's records, to name the one that cannot be encoded."""
    try:
        return orjson.dumps(chunk)[1:-1]
    except TypeError:
        for offset, record in enumerate(chunk):
            try:
                orjson.dumps(record)
            except TypeError as exc:
                problem = Problem(f"records[{start + offset}]", "json", str(exc))
                raise InvalidInputError([problem]) from exc
        raise
