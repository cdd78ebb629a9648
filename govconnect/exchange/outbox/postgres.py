"""The PostgreSQL engine of the outbox: one outbox shared by many delivery workers on many machines.

``Outbox("postgresql://user@host/db")`` returns a :class:`PostgresOutbox`: the same API and
guarantees as the SQLite file (a subclass: enqueue, events, replay's bookkeeping are inherited),
with claims that lock targets ``FOR UPDATE SKIP LOCKED``, leases that carry fencing tokens, and
idle workers that wait on ``LISTEN/NOTIFY`` (see ``pg_claims`` for the claim protocol). psycopg 3 is
imported here only, so the core install needs none (``pip install govconnect[postgres]``).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import orjson

from ..._exceptions import ConfigurationError
from ..observers import Observers
from . import pg_claims, pg_joined
from .dead_letters import Replayed, replayed_chunk
from .pg_schema import SCHEMA_VERSION, create_schema_sql, import_psycopg, migrate_sql, parse_url
from .store import Outbox, check_settings

__all__ = ["PostgresOutbox"]

log = logging.getLogger("govconnect.exchange.outbox")

_INSERT_ROWS = (
    "INSERT INTO outbox (operation, target, user_id, case_id, records, created_at, batch_key,"
    " payload) SELECT o, t, u, c, r, a, k, p FROM unnest(%s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::integer[], %s::float8[], %s::text[], %s::bytea[])"
    " WITH ORDINALITY AS x(o, t, u, c, r, a, k, p, n) ORDER BY n RETURNING id"
)
# One statement for a whole enqueue. The rows are inserted in the order given (``ORDER BY`` the
# ordinality: the ids, drawn from the sequence as rows are inserted, follow the chunks' order).

_IDLE_IN_TRANSACTION_MS = 10_000


class PostgresOutbox(Outbox):
    """A durable outbox in a PostgreSQL schema; share one object between threads and one
    database between processes and machines.

    ``url``: ``postgresql://user@host:port/db`` (``?schema=name``, or ``schema=``; default
    ``govconnect``). ``synchronous``: ``FULL``/``EXTRA`` commit enqueues, dead letters, replays and
    key-fixing claims with ``synchronous_commit = on`` and the rest (leases, outcomes) with
    ``off`` — the SQLite engine's split; ``NORMAL``/``OFF`` commit everything with ``off``.
    ``busy_timeout`` bounds waiting for a lock (``lock_timeout``) and for a connection.
    ``secure_delete`` is accepted for the same signature; PostgreSQL's VACUUM reclaims the space.
    """

    _THREAD_CONNECTIONS = ("conn", "listener")

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "FULL",
        batch_size: int = 500,
        secure_delete: bool = True,
        busy_timeout: float = 30.0,
        pm: Any = None,
        on_event: Callable[[Any], None] | None = None,
        clock: Callable[[], float] = time.time,
        schema: str | None = None,
    ) -> None:
        check_settings(synchronous, batch_size)
        self.batch_size = batch_size
        self._pg = import_psycopg("a PostgreSQL outbox")
        self.location = parse_url(str(path), schema)
        self.path = self.location.display  # what messages show: never the password
        self.schema = self.location.schema
        self._durable_sync = "on" if synchronous.upper() in {"FULL", "EXTRA"} else "off"
        self.busy_timeout = busy_timeout
        self.clock = clock
        self.secure_delete = secure_delete
        self.observers = Observers(pm, on_event)
        self._work = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._local = threading.local()
        self._conns: list[Any] = []
        self._conns_lock = threading.Lock()
        self._create()

    # --- connections and transactions ---------------------------------------------------------

    def _connect(self) -> Any:
        """A new autocommit connection whose ``search_path`` is the outbox's schema."""
        try:
            conn = self._pg.connect(
                self.location.conninfo,
                autocommit=True,
                connect_timeout=max(1, int(self.busy_timeout)),
                # A process paused inside a transaction (SIGSTOP, a VM stall) would hold its
                # targets' locks: the server ends such a session after a while instead.
                options=f"-c search_path={self.schema}"
                f" -c lock_timeout={int(self.busy_timeout * 1000)}"
                f" -c idle_in_transaction_session_timeout={_IDLE_IN_TRANSACTION_MS}",
            )
        except self._pg.Error as exc:
            reason = str(exc).replace(self.location.conninfo, self.path).strip()
            raise ConfigurationError(
                f"cannot open the outbox at {self.path}: {reason.splitlines()[0]}"
            ) from None
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _conn(self, *, relaxed: bool = False) -> Any:
        """This thread's connection (one per thread; ``relaxed`` is the same connection), or
        the connection it writes on while :meth:`joined` to another client's transaction."""
        joined = getattr(self._local, "joined", None)
        if joined is not None:
            return joined
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:  # a lost connection: a new one
            conn = self._local.conn = self._connect()
        return conn

    def _create(self) -> None:
        """Create (or check) the schema and its tables, one process at a time."""
        conn = self._conn()
        version = self._version(conn)
        if version is None or int(version) < int(SCHEMA_VERSION):
            # DDL only when needed (it locks tables that workers are using), one process at a
            # time; the version is read again under the lock: another may have just done it
            with conn.transaction():
                conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema + ".outbox",)
                )
                version = self._version(conn)
                if version is None:
                    conn.execute(create_schema_sql(self.schema))
                elif int(version) < int(SCHEMA_VERSION):
                    conn.execute(migrate_sql(self.schema))
            version = self._version(conn)
        if int(version or 0) > int(SCHEMA_VERSION):
            raise ConfigurationError(
                f"the outbox at {self.path} (schema {self.schema}) has schema version {version},"
                f" newer than this govconnect's {SCHEMA_VERSION}: upgrade govconnect"
            )

    def _version(self, conn: Any) -> str | None:
        """The schema version recorded in the outbox's schema (None: not created yet)."""
        if conn.execute("SELECT to_regclass(%s)", (f"{self.schema}.outbox_meta",)).fetchone()[0]:
            row = conn.execute(
                "SELECT value FROM outbox_meta WHERE key = 'schema_version'"
            ).fetchone()
            return row[0] if row else None
        return None

    @contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[Any]:
        """One transaction (a savepoint when nested in :meth:`transaction`); durable writes
        commit with ``synchronous_commit = on``, the rest without waiting for the WAL flush."""
        conn = self._conn()
        outer = not conn.info.transaction_status  # idle: this block starts the transaction
        with conn.transaction():
            if outer:
                self._local.durable = durable
                conn.execute(
                    "SELECT set_config('synchronous_commit', %s, true)",
                    (self._durable_sync if durable else "off",),
                )
            elif durable:
                self._fix_keys()
            yield conn
            if outer and self._local.durable and not durable:
                conn.execute(
                    "SELECT set_config('synchronous_commit', %s, true)", (self._durable_sync,)
                )

    _is_file = False

    def _has_table(self, table: str) -> bool:
        name = f"{self.schema}.{table}"
        return self._conn().execute("SELECT to_regclass(%s)", (name,)).fetchone()[0] is not None

    def _lock_name(self, conn: Any, name: str) -> None:
        """Processes creating the same tables at once take turns (``CREATE TABLE IF NOT
        EXISTS`` races on the catalog otherwise); the lock ends with the transaction."""
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{self.schema}.{name}",))

    def _fix_keys(self) -> None:
        """The current transaction must commit durably (it fixed an idempotency key)."""
        self._local.durable = True

    @contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """Join this thread's outbox writes inside into one transaction (each a savepoint)."""
        with self._write(durable=durable):
            yield

    # --- writing in another client's transaction (a legacy database that holds the outbox) ----

    def can_join(self, conn: Any) -> str | None:
        """Why this outbox's writes cannot run in ``conn``'s transactions (a DB-API connection
        of the legacy system), or None when they can: ``conn`` is psycopg 3's, on this server
        and database, and its role may write the outbox's tables (see ``pg_joined``)."""
        return pg_joined.cannot_join(self._conn(), conn, self.schema, self.path)

    @contextmanager
    def joined(self, conn: Any) -> Iterator[None]:
        """Run this thread's outbox writes inside on ``conn``, in the transaction it is in (a
        savepoint each): they commit, or roll back, with whatever ``conn``'s owner wrote before
        — one transaction for a legacy row and the status that reports it. Check
        :meth:`can_join` first; ``conn`` must be in a transaction (it has written)."""
        if conn.info.transaction_status != self._pg.pq.TransactionStatus.INTRANS:
            raise ConfigurationError(
                "the outbox joins a transaction in progress: write the legacy row first"
            )
        previous = getattr(self._local, "joined", None)
        search_path = pg_joined.enter(
            conn, self.schema, self._durable_sync, int(self.busy_timeout * 1000)
        )
        self._local.joined = conn
        try:
            yield
        finally:
            self._local.joined = previous
            pg_joined.leave(conn, search_path)

    def _notify(self, conn: Any) -> None:
        """Wake idle workers everywhere once this transaction commits."""
        conn.execute("SELECT pg_notify(%s, '')", (self.location.channel,))

    def __del__(self) -> None:
        for fd in (getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if fd is not None:
                os.close(fd)

    # --- the engine's halves of enqueue and replay --------------------------------------------

    def _insert_rows(
        self, rows: Iterator[tuple[Any, ...]], within: Callable[[Any], None] | None
    ) -> Sequence[int]:
        listed = list(rows)
        with self._write() as conn:
            ids: list[int] = []
            if listed:
                self._lock_target(conn, listed[0][0], listed[0][1])
                columns = [list(column) for column in zip(*listed, strict=True)]
                ids = sorted(row[0] for row in conn.execute(_INSERT_ROWS, columns).fetchall())
                self._notify(conn)
            if within is not None:
                within(conn)
        return ids

    @staticmethod
    def _lock_target(conn: Any, operation: str, target: str) -> None:
        """Register the target and hold its lock until commit: its rows then commit in id order
        with respect to its claims (see ``pg_claims``)."""
        conn.execute(
            "INSERT INTO outbox_targets VALUES (%s, %s) ON CONFLICT (operation, target)"
            " DO UPDATE SET operation = excluded.operation",
            (operation, target),
        )

    def _replay_rows(self, dead_ids: Iterable[int] | None, now: float) -> list[Replayed]:
        replayed: list[Replayed] = []
        with self._write() as conn:
            if dead_ids is None:
                wanted = [r[0] for r in conn.execute("SELECT id FROM outbox_dead ORDER BY id")]
            else:
                wanted = list(dead_ids)
            for dead_id in wanted:
                row = conn.execute(
                    "DELETE FROM outbox_dead WHERE id = %s RETURNING batch_key, operation,"
                    " target, user_id, case_id, records, entries",
                    (dead_id,),
                ).fetchone()
                if row is None:
                    continue
                key, operation, target, user_id, case_id, records, entries = row
                chunks = [replayed_chunk(e) for e in orjson.loads(entries)]
                self._lock_target(conn, operation, target)
                rows = [(operation, target, user_id, case_id, n, now, None, p) for n, p in chunks]
                columns = [list(column) for column in zip(*rows, strict=True)]
                ids = sorted(r[0] for r in conn.execute(_INSERT_ROWS, columns).fetchall())
                conn.execute(
                    "INSERT INTO outbox_batches (key, operation, target, first_id, last_id,"
                    " user_id, case_id, records, row_count, created_at, next_attempt_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (key, operation, target, ids[0], ids[-1], user_id, case_id,
                     sum(n for n, _ in chunks), len(chunks), now, now),
                )  # fmt: skip
                replayed.append((key, operation, target, case_id, records, dead_id))
            if replayed:
                self._notify(conn)
        return replayed

    # --- claiming and settling ----------------------------------------------------------------

    _claim_batches = staticmethod(pg_claims.claim)
    _settle_delivered = staticmethod(pg_claims.settle_delivered)
    _reschedule = staticmethod(pg_claims.reschedule)
    _release = staticmethod(pg_claims.release)
    _bury = staticmethod(pg_claims.bury)

    # --- inspection, housekeeping, waiting ----------------------------------------------------

    def purge(self, delivered_before: float) -> int:
        """Forget delivered batches older than ``delivered_before``, and the targets that hold
        nothing any more (settling prunes its own; this sweeps the rest, e.g. dead-lettered)."""
        with self._write() as conn:
            pg_claims.prune_targets(conn)
        return super().purge(delivered_before)

    listens = True
    """Idle workers wait on :meth:`wait_for_work` (woken by any process's commit), not a sleep."""

    def wake(self) -> None:
        self._work.set()
        with suppress(OSError):  # the pipe is full: a wake-up is already pending
            os.write(self._wake_w, b"!")

    def wait_for_work(self, timeout: float) -> None:
        """Return when any process commits something to deliver (``NOTIFY``: an enqueue, a
        replay, a batch given back or rescheduled), when this object is woken, or after
        ``timeout`` seconds — the safety net, not the means."""
        if self._work.is_set():
            self._work.clear()
            return
        try:
            listener = getattr(self._local, "listener", None)
            if listener is None or listener.closed or listener.broken:
                listener = self._local.listener = self._connect()
                listener.execute(f"LISTEN {self.location.channel}")
            if not any(True for _ in listener.notifies(timeout=0, stop_after=1)):
                ready, _, _ = select.select([listener.fileno(), self._wake_r], [], [], timeout)
                if listener.fileno() in ready:
                    for _ in listener.notifies(timeout=0):
                        pass
        except (self._pg.Error, ConfigurationError, OSError) as exc:
            # The server went away (a restart, a failover): wait out the timeout, listen anew
            # next time; the drain's next claim reconnects or reports the failure.
            log.warning("waiting for work on %s failed: %s", self.path, exc)
            self._local.listener = None
            time.sleep(timeout)
        with suppress(BlockingIOError):
            os.read(self._wake_r, 4096)
        self._work.clear()
