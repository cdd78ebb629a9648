"""The gateway's audit log: every request, allowed or refused, in a hash chain, in SQLite.

Each record holds who asked (consumer), what (service, a keyed digest of the parameters — never
the parameters themselves — and the purpose),
what they got (fields returned, fields withheld, row count) and the outcome. Records are chained
with a key kept outside the log (``hash = HMAC-SM3(K, prev_hash, seq, canonical JSON of the
record)``, see ``audit_chain``), and a one-row ``audit_head`` table, updated in the same
transaction, remembers the last sequence number and hash with a MAC of its own. So
:meth:`AuditLog.verify` finds an edited record (re-hashed or not), a forged one, a deleted one, a
reordered pair and a truncated tail, and an emptied, dropped or replaced log. An inspector who
writes down ``govconnect audit head`` holds an anchor besides (``verify --anchor SEQ:HASH``).

``verify`` opens its own read-only connection and reads the records and the head in one read
transaction: it never creates or changes anything (it works on a read-only copy) and a live log
is checked as one snapshot. A log written before keying (schema 1) is keyed from its next record
on when a gateway first opens it for writing; its history is verified as before and reported as
unkeyed.

This module is the storage; what a record holds and the order it is hashed in is
``audit_record``, the chain and its check ``audit_chain``, usage and exports ``audit_reports``.
It also keeps the key of the parameter digests, next to the log file unless the environment
gives one.

Embedded SQLite in WAL mode. Appends are group-committed: concurrent callers' records are chained
and inserted in one transaction by whichever caller holds the write lock, and every caller returns
only once its own record is committed (a trigger moves the head in the same transaction). The head
is cached in memory; when another process sharing the file appended first, the insert collides on
the sequence number, the head is re-read and the batch retried, so processes never fork the chain.
"""

from __future__ import annotations

import hmac
import io
import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

import orjson

from .._exceptions import ConfigurationError
from ..exchange.outbox.store import is_postgres_url
from .audit_chain import ChainKey, Sealed, VerifyReport
from .audit_record import _COLUMNS, AuditRecord, _content, _record, parse_time
from .audit_reports import (
    OfficerUsage,
    ServiceUsage,
    _officer_usage,
    _service_usage,
    _write_export,
)
from .audit_sqlite import (
    KEY_ENV,
    SCHEMA,
    TABLES,
    add_identity_columns,
    check_seal,
    connect_readonly,
    key_from_env,
    read_head,
    read_key,
    read_meta,
    read_or_create_key,
    select_list,
    seq_finder,
    tables,
    verify_log,
    write_seal,
)
from .officers import officer_digest
from .policy import HASH_NAME

__all__ = ["KEY_ENV", "AuditLog"]


# Schema 1 moved the head with a trigger; a keyed log moves it (with its MAC) in the appending
# transaction, and its seal drops the trigger. Schema 3 added the officer columns (last, so an
# older log gains them with ALTER TABLE: ``add_identity_columns``).

_APPEND_ATTEMPTS = 100


@dataclass(slots=True)
class _Pending:
    """A record waiting for the group commit; ``done`` once written (or failed)."""

    content: list[Any]
    done: bool = False
    seq: int = 0
    prev: str = ""
    hash: str = ""
    error: Exception | None = None


class AuditLog:
    """An append-only, hash-chained audit log in one SQLite file.

    Given a PostgreSQL URL (``postgresql://user@host/db``, optionally ``?schema=name``) instead
    of a path, ``AuditLog(...)`` opens the store that several gateway processes share, a
    :class:`~.audit_postgres.PostgresAuditLog` with the same API."""

    def __new__(cls, path: str | Path, *args: Any, **kwargs: Any) -> AuditLog:
        if cls is AuditLog and is_postgres_url(path):
            from .audit_postgres import PostgresAuditLog  # psycopg is optional: imported if used

            return super().__new__(PostgresAuditLog)
        return super().__new__(cls)

    def __init__(
        self, path: str | Path, *, params_key: bytes | None = None, readonly: bool = False
    ) -> None:
        """Open (or create) the log for appending; ``readonly`` opens an existing log for
        reading only — creating nothing, not even the key file (the CLI's reports do)."""
        self.path = Path(path)
        self.readonly = readonly
        self._params_key = params_key
        self._params_hmac: hmac.HMAC | None = None
        self._memory = str(path) == ":memory:"
        self._sealed: Sealed | None = None
        if readonly:
            self._conn = connect_readonly(self.path)
        else:
            self._conn = self._open_for_writing()
        self._lock = threading.Lock()
        self._writer = self._conn.cursor()  # used under ``_lock`` only: no cursor per append
        self._head: tuple[int, str] | None = None
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._insert = (
            f"INSERT INTO audit ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        )
        self._select = select_list(self._conn)

    def _open_for_writing(self) -> sqlite3.Connection:
        fresh = not self._memory and not self.path.exists()
        if not self._memory:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None, timeout=30
            )
            known = tables(conn)
            damaged = [t for t in TABLES if t not in known]
            if known and damaged:
                conn.close()
                raise ConfigurationError(
                    f"audit log {str(self.path)!r} is damaged: table(s) {', '.join(damaged)} "
                    "missing (`govconnect audit verify` tells more); nothing is appended to it"
                )
            if not known and self._orphan_key():
                # The key of a log exists but the log does not (or is an empty or foreign file):
                # starting a fresh log here would hide a deleted one.
                conn.close()
                if fresh:
                    self.path.unlink(missing_ok=True)
                raise ConfigurationError(
                    f"audit log {str(self.path)!r} is missing or empty, but its key "
                    f"{str(self.key_path)!r} exists: the log was deleted or replaced. Restore it; "
                    "to start a new log on purpose, move the old log's key away with it"
                )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(SCHEMA)
            add_identity_columns(conn)  # a log written before the officer columns
            self._conn = conn
            self._check_algorithm()
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open audit log {str(self.path)!r}: {exc}") from exc
        return conn

    def _orphan_key(self) -> bool:
        return (
            not self._memory
            and self._params_key is None
            and not os.environ.get(KEY_ENV)
            and self.key_path.exists()
        )

    def _check_algorithm(self) -> None:
        row = self._conn.execute("SELECT value FROM audit_meta WHERE key = 'algorithm'").fetchone()
        if row is None and not self.readonly:
            self._conn.execute(
                "INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('algorithm', ?)",
                (HASH_NAME,),
            )
        elif row is not None and row[0] != HASH_NAME:
            raise ConfigurationError(
                f"audit log {str(self.path)!r} is chained with {row[0]}, this Python has "
                f"{HASH_NAME} only"
            )

    def close(self) -> None:
        self._conn.close()

    # --- parameter digests --------------------------------------------------------------------

    @property
    def key_path(self) -> Path:
        """Where the parameter-digest key lives unless ``$GOVCONNECT_AUDIT_KEY`` gives one."""
        return self.path.with_name(self.path.name + ".key")

    def _key(self) -> bytes:
        if self._params_key is None:
            env = os.environ.get(KEY_ENV)
            if env:
                self._params_key = key_from_env(env)
            elif self._memory:
                self._params_key = secrets.token_bytes(32)
            elif self.readonly:
                self._params_key = read_key(self.key_path)
            else:
                self._params_key = read_or_create_key(self.key_path)
        return self._params_key

    # --- the keyed chain ----------------------------------------------------------------------

    def seal(self) -> None:
        """Key the chain now (the gateway does at start), not at the first append: a new log
        from its first record, a log written before keying from the record after its last."""
        with self._lock:
            self._ensure_sealed()

    def _ensure_sealed(self) -> Sealed:
        """The log's seal, written once (caller holds the write lock)."""
        if self._sealed is not None:
            return self._sealed
        key = ChainKey(self._key())
        meta = read_meta(self._conn)
        if "schema" not in meta:
            cur = self._writer
            cur.execute("BEGIN IMMEDIATE")
            try:
                meta = read_meta(self._conn)
                if "schema" not in meta:  # no other process sealed it meanwhile
                    meta.update(write_seal(cur, key))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        sealed = check_seal(meta, key, self._conn, self.path)
        self._sealed = sealed
        return sealed

    def params_digest(self, params: Mapping[str, Any]) -> str:
        """Keyed digest (HMAC-SM3) of a call's parameters, as the audit record stores it.

        A plain hash of a citizen ID could be reversed by trying every ID of a district, so the
        digest is keyed: inspectors holding an export cannot recover parameters, while the
        department (holding the key) can still answer "was this ID queried?" with
        ``govconnect audit find --param citizen_id=…``.
        """
        body = orjson.dumps(dict(params), option=orjson.OPT_SORT_KEYS)
        proto = self._params_hmac
        if proto is None:  # keyed once; each digest copies the keyed state (no key setup per call)
            proto = self._params_hmac = hmac.new(self._key(), digestmod=HASH_NAME)
        h = proto.copy()
        h.update(body)
        return h.hexdigest()

    def find(self, params: Mapping[str, Any]) -> Iterator[AuditRecord]:
        """Records of calls made with exactly these parameters (matched by keyed digest)."""
        wanted = self.params_digest(params)
        sql = f"SELECT {self._select} FROM audit WHERE params_digest = ? ORDER BY seq"
        for row in self._conn.execute(sql, (wanted,)):
            yield _record(row)

    def derived_key(self, purpose: str) -> bytes:
        """A key for ``purpose`` derived from the audit key: the same in every process that
        shares this log (the gateway signs its ``next_page`` tokens with one, so a page asked of
        one worker process is followed on another), never the audit key itself."""
        return hmac.new(self._key(), f"govconnect {purpose}".encode(), HASH_NAME).digest()

    def officer_digest(self, subject: str) -> str:
        """The keyed digest a record stores for a verified officer's subject (``sub``)."""
        return officer_digest(self._key(), subject)

    def find_officer(self, subject: str, issuer: str | None = None) -> Iterator[AuditRecord]:
        """Records of calls made by a verified officer (matched by keyed digest of the subject;
        ``issuer`` narrows to one authentication center)."""
        sql = f"SELECT {self._select} FROM audit WHERE officer_digest = ?"
        args: list[str] = [self.officer_digest(subject)]
        if issuer is not None:
            sql += " AND officer_issuer = ?"
            args.append(issuer)
        if "NULL AS officer_digest" in self._select:
            return  # a log written before the officer columns: no verified officer in it
        for row in self._conn.execute(sql + " ORDER BY seq", args):
            yield _record(row)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------------

    def append(self, **call: Any) -> AuditRecord:
        """Append one record to the chain, commit it, and return it as read back would be.

        Takes the keywords of :func:`_content` (the one place the columns are named); use
        :meth:`write` on hot paths that need no record.
        """
        pending = self._commit(_content(**call))
        c = pending.content
        return AuditRecord(
            pending.seq,
            *c[:9],
            json.loads(c[9]),
            json.loads(c[10]),
            json.loads(c[11]),
            *c[12:],
            pending.prev,
            pending.hash,
        )

    def write(self, **call: Any) -> tuple[int, str]:
        """Append one record to the chain and commit it before returning its ``(seq, hash)``
        (the gateway calls this once per request). The keywords are :func:`_content`'s."""
        pending = self._commit(_content(**call))
        return pending.seq, pending.hash

    def _commit(self, content: list[Any]) -> _Pending:
        """Queue ``content`` for the group commit and return once it is committed."""
        pending = _Pending(content)
        with self._queue_lock:
            self._queue.append(pending)
        # Group commit: whoever holds the write lock writes every queued record in one
        # transaction; callers whose record was written meanwhile find it done and return.
        with self._lock:
            if not pending.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._write(batch)
        if pending.error is not None:
            raise pending.error
        return pending

    def _write(self, batch: list[_Pending]) -> None:
        """Chain and insert ``batch`` in one transaction (caller holds the write lock)."""
        try:
            sealed = self._ensure_sealed()
        except Exception as exc:
            for p in batch:
                p.error, p.done = exc, True
            return
        key = sealed.key
        for _attempt in range(_APPEND_ATTEMPTS):
            if self._head is None:
                self._head = self.head()
            seq, prev = self._head
            rows = []
            for p in batch:
                seq, p.prev = seq + 1, prev
                p.seq, p.hash = seq, key.record(prev, seq, p.content)
                prev = p.hash
                rows.append((p.seq, *p.content, p.prev, p.hash))
            try:
                # the rows, the head (moved by the trigger) and the head's MAC: one transaction
                writer = self._writer
                writer.execute("BEGIN IMMEDIATE")
                try:
                    if len(rows) == 1:
                        writer.execute(self._insert, rows[0])
                    else:
                        writer.executemany(self._insert, rows)
                    writer.execute(
                        "UPDATE audit_head SET seq = ?, hash = ?, mac = ? WHERE id = 1",
                        (seq, prev, key.head(sealed.log_id, seq, prev)),
                    )
                    writer.execute("COMMIT")
                except BaseException:
                    writer.execute("ROLLBACK")
                    raise
            except sqlite3.IntegrityError:
                self._head = None  # another process appended first: re-read the head, retry
                continue
            except Exception as exc:
                self._head = None
                for p in batch:
                    p.error, p.done = exc, True
                return
            self._head = (seq, prev)
            for p in batch:
                p.done = True
            return
        failure = ConfigurationError(
            f"audit log {str(self.path)!r}: could not append after {_APPEND_ATTEMPTS} attempts"
        )
        for p in batch:
            p.error, p.done = failure, True

    # --- reading ------------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last record: write it down to anchor the log externally."""
        return read_head(self._conn)

    def records(
        self, since: str | date | None = None, until: str | date | None = None
    ) -> Iterator[AuditRecord]:
        """Records in chain order, optionally within ``[since, until)`` (UTC)."""
        where, args = [], []
        if since is not None:
            where.append("time >= ?")
            args.append(parse_time(since))
        if until is not None:
            where.append("time < ?")
            args.append(parse_time(until))
        sql = f"SELECT {self._select} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        for row in self._conn.execute(sql, args):
            yield _record(row)

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM audit").fetchone()[0])

    def verify(self, anchor: tuple[int, str] | None = None) -> VerifyReport:
        """Walk the chain; raise :class:`AuditIntegrityError` naming the first bad record.

        ``anchor`` is a ``(seq, hash)`` an inspector noted earlier: that record must still exist
        with that hash. Reads through a read-only connection of its own, records and head in one
        read transaction; creates and changes nothing.
        """
        if self._memory:
            with self._lock:
                return verify_log(self._conn, self.path, self._key, anchor)
        conn = connect_readonly(self.path)
        try:
            return verify_log(conn, self.path, self._key, anchor)
        finally:
            conn.close()

    def _seq_of_hash(self, value: str) -> int | None:
        return seq_finder(self._conn)(value)

    # --- reports ------------------------------------------------------------------------------

    def usage(self) -> list[ServiceUsage]:
        """Calls, rows, distinct consumers and last successful use per service."""
        return _service_usage(self._conn)

    def officer_usage(self) -> list[OfficerUsage]:
        """Calls, rows, services and last use per officer: verified, claimed or none."""
        return _officer_usage(self._conn)

    def export(
        self,
        out: IO[str],
        fmt: str = "jsonl",
        since: str | date | None = None,
        until: str | date | None = None,
    ) -> int:
        """Write records (with their hashes, for offline checking) as CSV or JSON lines."""
        return _write_export(self.records(since, until), out, fmt)

    def export_text(self, fmt: str = "jsonl", **bounds: Any) -> str:
        buf = io.StringIO()
        self.export(buf, fmt, **bounds)
        return buf.getvalue()
