"""The outbox file's connections: one SQLite file (WAL mode) shared by the threads of a process,
each with its own connections, one write transaction at a time, and commits made durable only
where they must be.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

__all__ = ["PAGE_SIZE", "Connections"]

PAGE_SIZE = 16384


class Connections:
    """The connections and transactions of one SQLite file; the :class:`~.store.Outbox` builds on it.

    ``synchronous`` (upper case, checked by the caller) is the level of durable commits, the
    relaxed ones commit at ``NORMAL`` at most; ``secure_delete`` is the pragma's value (``ON``,
    ``FAST``); ``clock`` gives the wall-clock time written by :meth:`_sync`.
    """

    _THREAD_CONNECTIONS: tuple[str, ...] = ("conn", "relaxed")
    """The names under which a thread keeps its connections (``close_thread`` closes them)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str,
        secure_delete: str,
        busy_timeout: float,
        clock: Callable[[], float],
    ) -> None:
        self.secure_delete = secure_delete
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.synchronous = synchronous
        self._relaxed = "NORMAL" if self.synchronous in {"FULL", "EXTRA"} else self.synchronous
        self.busy_timeout = busy_timeout
        self.clock = clock
        self._local = threading.local()
        self._writer = threading.RLock()  # one write transaction at a time in this process
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()

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
        for name in self._THREAD_CONNECTIONS:
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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
