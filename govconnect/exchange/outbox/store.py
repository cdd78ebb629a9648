"""The ``Outbox``: the object its users hold. It opens the file and enqueues records and status
changes itself; claiming, settling, dead letters and status are done by the modules named for them.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..._exceptions import ConfigurationError, Problem
from .. import platform as P
from ..events import EventKind, ExchangeEvent
from ..observers import Observers
from .chunks import check_code, encoded_rows, publish_rows, status_row
from .claims import Batch, claim_batches, release_batch, reschedule_batch, settle_delivered
from .connections import Connections
from .dead_letters import DeadLetter, Replayed, bury_batch, read_dead_letters, replay_dead_letters
from .portable import ddl, execute, statements
from .schema import INSERT_ROW, SCHEMA, is_current, migrate
from .status import (
    OutboxStatus,
    count_pending,
    dead_keys,
    known_notices,
    next_due_at,
    purge_delivered,
    read_status,
    remember_notices,
)

__all__ = ["Outbox", "is_postgres_url", "shown_location"]

_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})


def is_postgres_url(location: object) -> bool:
    """Whether ``location`` names a PostgreSQL database (``postgresql://user@host/db``) rather
    than an outbox file: the CLI's ``--outbox``/``--path`` and ``Outbox(...)`` take either."""
    if not isinstance(location, str) or "://" not in location:
        return False
    return location.split("://", 1)[0].lower() in _POSTGRES_SCHEMES


def check_settings(synchronous: str, batch_size: int) -> None:
    """Refuse settings either engine would misread, naming the setting and the rule."""
    if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ConfigurationError(f"synchronous must be OFF/NORMAL/FULL/EXTRA, not {synchronous!r}")
    if not 1 <= batch_size <= P.MAX_BATCH_RECORDS:
        raise ConfigurationError(
            f"batch_size must be between 1 and {P.MAX_BATCH_RECORDS} (the platform's largest"
            f" batch), not {batch_size}"
        )


def shown_location(location: str | os.PathLike[str]) -> str:
    """An outbox location fit for a message or a log: a PostgreSQL URL loses its password."""
    if is_postgres_url(location):
        from .pg_schema import redact

        return redact(str(location))
    return str(location)


def _fault(exc: sqlite3.Error | OSError) -> str:
    """What SQLite or the operating system said, with its class (and the file, if it names one):
    our own schema's errors carry no values, unlike a legacy driver's."""
    if isinstance(exc, FileExistsError | NotADirectoryError) and exc.filename:
        return f"{exc.filename} is a file where a folder is needed ({type(exc).__name__})"
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or type(exc).__name__} ({type(exc).__name__}){where}"
    return f"{exc} (sqlite3.{type(exc).__name__})"


class Outbox(Connections):
    """A durable outbox in one SQLite file (WAL mode); share one object between threads.

    ``synchronous`` is SQLite's ``PRAGMA synchronous``: ``FULL`` (default) survives power loss,
    ``NORMAL`` survives a process crash (kill -9) and is faster. ``batch_size`` is how many records
    enqueued together share a row, and so the size of the requests they usually go out in (the
    delivery worker never splits a row; it combines small ones). ``secure_delete`` zeroes the
    payloads of delivered rows in the file (SQLite's ``secure_delete``, set explicitly rather than
    left to how SQLite was built); ``False`` keeps only the in-page part zeroed (``FAST``) and
    leaves overflow pages to be overwritten when reused: about a tenth faster drains, with
    delivered personal data lingering in free pages meanwhile. ``clock`` gives wall-clock seconds.

    Given a PostgreSQL URL (``postgresql://user@host/db``, optionally ``?schema=name``) instead
    of a path, ``Outbox(...)`` opens the shared engine, a :class:`~.postgres.PostgresOutbox`
    (a subclass, same API): one outbox for many workers on many machines. The choice is made
    here so that every caller that takes an outbox location (the CLI's ``--outbox``,
    ``GOVCONNECT_OUTBOX``) takes either without knowing engines.
    """

    def __new__(cls, path: str | os.PathLike[str], *args: Any, **kwargs: Any) -> Outbox:
        if cls is Outbox and is_postgres_url(path):
            from .postgres import PostgresOutbox  # psycopg is optional: imported when used

            return super().__new__(PostgresOutbox)
        return super().__new__(cls)

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
        check_settings(synchronous, batch_size)
        self.batch_size = batch_size
        self.observers = Observers(pm, on_event)
        self._work = threading.Event()  # set when this object commits something to deliver
        try:
            super().__init__(
                path,
                synchronous=synchronous.upper(),
                secure_delete="ON" if secure_delete else "FAST",
                busy_timeout=busy_timeout,
                clock=clock,
            )
            self._conn().executescript(f"BEGIN IMMEDIATE; {SCHEMA} COMMIT;")
            self._migrate()
            with self._write() as conn:
                row = conn.execute("SELECT value FROM outbox_meta WHERE key = 'uid'").fetchone()
                if row is None:
                    conn.execute("INSERT INTO outbox_meta VALUES ('uid', ?)", (uuid.uuid4().hex,))
        except (sqlite3.Error, OSError) as exc:
            # a full disk, a read-only file or folder, a file where a folder should be, a file
            # that is not an outbox: the operator's to fix, so say which and where (as the
            # PostgreSQL outbox does), not a stack trace from deep inside sqlite3
            if getattr(self, "_conns", None) is not None:
                self.close()
            raise ConfigurationError(
                f"cannot open the outbox at {shown_location(path)}: {_fault(exc)}"
            ) from exc

    def _migrate(self) -> None:
        """Bring an outbox file of an earlier schema up to this one, in one transaction."""
        if is_current(self._conn()):
            return
        with self._write() as conn:
            migrate(conn)

    # --- enqueue -------------------------------------------------------------------------------

    def enqueue(
        self,
        resource_code: str,
        records: Iterable[Mapping[str, Any]],
        *,
        user_id: str | None = None,
        case_id: str | None = None,
        within: Callable[[sqlite3.Connection], None] | None = None,
    ) -> Sequence[int]:
        """Commit records for publishing to ``resource_code``; returns the ids of the rows that
        hold them (one per ``batch_size`` records).

        All or nothing: a record that breaks the contract (not an object, a bad ``op``, a delete
        without ``id``, not JSON-serialisable) refuses the whole call, naming ``records[i]``.
        ``within(conn)`` runs inside the same transaction, so state that must move together with
        the records (a publishing bookmark) commits or rolls back with them.
        """
        check_code(resource_code)
        rows = publish_rows(resource_code, records, self.batch_size, user_id, case_id, self.clock())
        return self._insert(rows, "publish", resource_code, case_id, within)

    def enqueue_encoded(
        self,
        resource_code: str,
        payloads: Iterable[bytes],
        *,
        user_id: str | None = None,
        within: Callable[[sqlite3.Connection], None] | None = None,
    ) -> Sequence[int]:
        """Like :meth:`enqueue` for records the caller already encoded as JSON objects (the
        dataset publisher validates and encodes whole batches at once and is trusted here)."""
        check_code(resource_code)
        rows = encoded_rows(resource_code, payloads, self.batch_size, user_id, self.clock())
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
        row = status_row(case_id, status, result, reasons, user_id, self.clock())
        ids = self._insert(iter([row]), "status", None, case_id, within)
        return ids[0]

    def enqueue_corrections(
        self, notices: Iterable[tuple[str, str, bytes]], *, user_id: str | None = None
    ) -> list[str]:
        """Commit correction notices, each ``(notice id, disputed resource code, the notice as a
        JSON object)``, skipping every id the outbox ever queued; returns the ids queued.

        The ids queued are remembered in ``outbox_notices`` in the same transaction and never
        purged, so "each notice once, ever" holds after ``outbox purge`` too, and knowing an id
        is one primary-key lookup (the lock held meanwhile stays short however many notices the
        outbox has seen). A notice is a batch of its own whose idempotency key is its id, so the
        platform refuses a re-send as a duplicate: the second guard."""
        listed = list(notices)
        for _, target, _ in listed:
            check_code(target)
        now = self.clock()
        queued: list[str] = []
        with self.transaction():
            with self._write() as conn:
                self._lock_name(conn, "enqueue_corrections")  # concurrent runs take turns
                known = known_notices(conn, [key for key, _, _ in listed])
                by_target: dict[str, list[tuple[Any, ...]]] = {}
                for key, target, payload in listed:
                    if key not in known:
                        known.add(key)
                        row = ("correction", target, user_id, None, 1, now, key, payload)
                        by_target.setdefault(target, []).append(row)
                        queued.append(key)
                remember_notices(conn, queued, now)
            for target, rows in by_target.items():
                self._insert(iter(rows), "correction", target, None)
        return queued

    def dead_notices(self, ids: Sequence[str]) -> set[str]:
        """Which of the correction notice ``ids`` are dead letters now (the platform refused
        them; ``govconnect outbox retry`` puts them back)."""
        return dead_keys(self._conn(), list(ids))

    def _insert(
        self,
        rows: Iterator[tuple[Any, ...]],
        operation: str,
        resource: str | None,
        case: str | None,
        within: Callable[[sqlite3.Connection], None] | None = None,
    ) -> Sequence[int]:
        """Insert ``rows`` in one transaction; returns their ids. The ENQUEUED event counts the
        records they hold."""
        records = 0

        def counted() -> Iterator[tuple[Any, ...]]:
            nonlocal records
            for row in rows:
                records += row[4]
                yield row

        ids = self._insert_rows(counted(), within)
        if ids:
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

    def _insert_rows(
        self, rows: Iterator[tuple[Any, ...]], within: Callable[[Any], None] | None
    ) -> Sequence[int]:
        """The engine's half of an enqueue: insert ``rows`` and run ``within`` in one
        transaction; returns the rows' ids."""
        with self._write() as conn:
            cursor = conn.executemany(INSERT_ROW, rows)
            count = cursor.rowcount
            last = conn.execute("SELECT last_insert_rowid()").fetchone()[0] if count else 0
            if within is not None:
                within(conn)
        return range(last - count + 1, last + 1)

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
            batches, fixed = self._claim_batches(
                conn, owner, self.clock(), count, batch_size, lease, scan_limit, held
            )
            if fixed:
                self._fix_keys()
        return batches

    def mark_delivered(self, batch: Batch, *, duplicate: bool = False) -> None:
        """The platform applied (or had already applied) the batch: it leaves the outbox."""
        self.mark_delivered_many([(batch, duplicate)])

    def mark_delivered_many(self, delivered: Sequence[tuple[Batch, bool]]) -> set[str]:
        """Several delivered batches (with their duplicate flags) in one transaction; returns
        the keys of those a fencing token refused (PostgreSQL; a file's claims are not fenced)."""
        now = self.clock()
        with self._write(durable=False) as conn:
            return self._settle_delivered(conn, delivered, now) or set()

    def reschedule(self, batch: Batch, delay: float, error: str) -> bool | None:
        """Release the lease; the batch (same key) is due again in ``delay`` seconds. False:
        a fencing token refused it (PostgreSQL), nothing changed."""
        with self._write(durable=False) as conn:
            done = self._reschedule(conn, batch, self.clock() + delay, error)
            if done is not False:
                self._notify(conn)
        return done

    def release(self, batch: Batch) -> bool | None:
        """Give a claimed batch back unsent (same key, due as before): a pipelining worker whose
        previous batch of the same target must wait for a retry returns the next one this way.
        False: a fencing token refused it (PostgreSQL), nothing changed."""
        with self._write(durable=False) as conn:
            done = self._release(conn, batch)
            if done is not False:
                self._notify(conn)
        return done

    def bury(self, batch: Batch, reason: str, problems: Sequence[Problem] = ()) -> int | None:
        """Move the batch to dead letters with ``reason``; returns the dead letter's id (None:
        settled meanwhile, or fenced off, by a worker that had reclaimed it)."""
        with self._write() as conn:
            return self._bury(conn, batch, reason, problems, self.clock())

    # The engine's claim and settle functions, each working inside the transaction it is given
    # (``claims`` and ``dead_letters`` for the file; the PostgreSQL engine puts its own here).
    _claim_batches = staticmethod(claim_batches)
    _settle_delivered = staticmethod(settle_delivered)
    _reschedule = staticmethod(reschedule_batch)
    _release = staticmethod(release_batch)
    _bury = staticmethod(bury_batch)

    def _notify(self, conn: Any) -> None:
        """Tell other processes' idle workers that something became due (PostgreSQL's NOTIFY;
        a file's workers poll)."""

    # --- dead letters --------------------------------------------------------------------------

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        return read_dead_letters(self._conn(), limit)

    def replay(self, dead_ids: Iterable[int] | None = None) -> int:
        """Put dead batches back (all of them when ``dead_ids`` is None); returns batches replayed.

        A replayed batch keeps its idempotency key, so if the platform did apply it before the
        batch was given up, the replay is acknowledged as a duplicate, not applied twice. It is
        due now and goes out before the rows of its target still waiting (it is their oldest);
        rows of its target delivered while it was dead stay delivered, so replaying old upserts
        may apply them after newer ones: the operator decides.
        """
        replayed = self._replay_rows(dead_ids, self.clock())
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

    def _replay_rows(self, dead_ids: Iterable[int] | None, now: float) -> list[Replayed]:
        """The engine's half of :meth:`replay`: dead batches back as live ones, in one
        transaction."""
        with self._write() as conn:
            return replay_dead_letters(conn, dead_ids, now)

    # --- state kept beside the outbox (the intake journal, the publishing state) ----------------

    def create_tables(self, name: str, script: str, last_table: str) -> None:
        """Create the tables of ``script`` (see :func:`~.portable.ddl`) in this outbox's store,
        in one transaction, if ``last_table`` is not there yet: the intake journal and the
        publishing state keep their tables here so that they commit with the outbox rows.
        ``name`` tells which state they are (processes creating it at once take turns)."""
        if self._has_table(last_table):
            return
        with self._write() as conn:
            self._lock_name(conn, name)
            for statement in statements(ddl(self._is_file, script)):
                execute(conn, statement)

    _is_file = True

    @property
    def is_file(self) -> bool:
        """Whether the store is a SQLite file (else PostgreSQL): for the few spellings that
        differ (see :mod:`~.portable`)."""
        return self._is_file

    def _has_table(self, table: str) -> bool:
        row = (
            self._conn()
            .execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
            .fetchone()
        )
        return row is not None

    def _lock_name(self, conn: Any, name: str) -> None:
        """Serialise creating ``name`` between processes (a file's write lock already does)."""

    def can_join(self, conn: Any) -> str | None:
        """Why this outbox's writes cannot run in the transactions of ``conn`` (a legacy
        database's connection), or None when they can: never for a file, which only its own
        connections write (the PostgreSQL engine can, in the database that holds it)."""
        return f"the outbox is a SQLite file ({self.path}), not a schema of the legacy database"

    def read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of a query (``?`` placeholders, SQL both engines run) on this thread's
        connection: how state kept beside the outbox is read."""
        return list(execute(self._conn(), sql, params).fetchall())

    def write_state(self, apply: Callable[[Any], Any], *, durable: bool = True) -> Any:
        """Run ``apply(conn)`` in one transaction of its own and return what it returns: state
        that changes without outbox rows (an attempt counted, a claim, a run finished).
        ``durable=False``: state whose loss in a power failure is harmless (a lease)."""
        with self._write(durable=durable) as conn:
            return apply(conn)

    # --- inspection and housekeeping -----------------------------------------------------------

    def status(self) -> OutboxStatus:
        return read_status(self._conn(), self.clock())

    def pending(self) -> int:
        """Records (and status changes) not yet delivered nor dead-lettered."""
        return count_pending(self._conn())

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
        return next_due_at(self._conn(), self.clock())

    def purge(self, delivered_before: float) -> int:
        """Forget delivered batches older than ``delivered_before`` (wall-clock seconds)."""
        with self._write() as conn:
            return purge_delivered(conn, delivered_before)
