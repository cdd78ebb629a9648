"""The gateway's audit log: every request, allowed or refused, in a hash chain, in SQLite.

Each record holds who asked (consumer), what (service, a keyed digest of the parameters — never
the parameters themselves — and the purpose),
what they got (fields returned, fields withheld, row count) and the outcome. Records are chained
(``hash = SM3(prev_hash + canonical JSON of the record)``, see ``audit_chain``), and a one-row
``audit_head`` table, updated in the same transaction, remembers the last sequence number and
hash. So :meth:`AuditLog.verify` finds an edited record, a deleted one, a reordered pair and a
truncated tail (the head points past the end). An inspector who writes down ``govconnect audit
head`` can later prove that even the head was not rewritten (``verify --anchor SEQ:HASH``).

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
from .audit_chain import GENESIS, VerifyReport, _chain_hash, _verify_chain
from .audit_record import _COLUMNS, AuditRecord, _content, _record, parse_time
from .audit_reports import ServiceUsage, _write_export
from .policy import HASH_NAME

__all__ = ["KEY_ENV", "AuditLog"]

KEY_ENV = "GOVCONNECT_AUDIT_KEY"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq           INTEGER PRIMARY KEY,
    time          TEXT NOT NULL,
    consumer      TEXT,
    service       TEXT NOT NULL,
    purpose       TEXT,
    params_digest TEXT,
    request_hash  TEXT,
    message_id    TEXT,
    case_id       TEXT,
    officer       TEXT,
    fields        TEXT NOT NULL,
    withheld      TEXT NOT NULL,
    masked        TEXT NOT NULL,
    rows          INTEGER NOT NULL,
    outcome       TEXT NOT NULL,
    status        INTEGER NOT NULL,
    reason        TEXT,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TRIGGER IF NOT EXISTS audit_advance_head AFTER INSERT ON audit BEGIN
    UPDATE audit_head SET seq = NEW.seq, hash = NEW.hash WHERE id = 1;
END;
"""

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
    """An append-only, hash-chained audit log in one SQLite file."""

    def __init__(self, path: str | Path, *, params_key: bytes | None = None) -> None:
        self.path = Path(path)
        self._params_key = params_key
        self._params_hmac: hmac.HMAC | None = None
        self._memory = str(path) == ":memory:"
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                str(path), check_same_thread=False, isolation_level=None, timeout=30
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)
            self._check_algorithm()
        except sqlite3.Error as exc:
            raise ConfigurationError(f"cannot open audit log {str(path)!r}: {exc}") from exc
        self._lock = threading.Lock()
        self._writer = self._conn.cursor()  # used under ``_lock`` only: no cursor per append
        self._head: tuple[int, str] | None = None
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._insert = (
            f"INSERT INTO audit ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        )

    def _check_algorithm(self) -> None:
        row = self._conn.execute("SELECT value FROM audit_meta WHERE key = 'algorithm'").fetchone()
        if row is None:
            self._conn.execute(
                "INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('algorithm', ?)",
                (HASH_NAME,),
            )
        elif row[0] != HASH_NAME:
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
                self._params_key = env.encode("utf-8")
            elif self._memory:
                self._params_key = secrets.token_bytes(32)
            else:
                self._params_key = _read_or_create_key(self.key_path)
        return self._params_key

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
        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit WHERE params_digest = ? ORDER BY seq"
        for row in self._conn.execute(sql, (wanted,)):
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
            *c[12:16],
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
        for _attempt in range(_APPEND_ATTEMPTS):
            if self._head is None:
                self._head = self.head()
            seq, prev = self._head
            rows = []
            for p in batch:
                seq, p.prev = seq + 1, prev
                p.seq, p.hash = seq, _chain_hash(prev, p.content)
                prev = p.hash
                rows.append((p.seq, *p.content, p.prev, p.hash))
            try:
                writer = self._writer
                if len(rows) == 1:  # one INSERT is its own transaction (the trigger included)
                    writer.execute(self._insert, rows[0])
                else:
                    writer.execute("BEGIN IMMEDIATE")
                    try:
                        writer.executemany(self._insert, rows)
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
        row = self._conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

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
        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit"
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
        with that hash.
        """
        rows = self._conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM audit ORDER BY seq")
        return _verify_chain(rows, self.head, self._seq_of_hash, anchor)

    def _seq_of_hash(self, value: str) -> int | None:
        row = self._conn.execute("SELECT seq FROM audit WHERE hash = ?", (value,)).fetchone()
        return None if row is None else row[0]

    # --- reports ------------------------------------------------------------------------------

    def usage(self) -> list[ServiceUsage]:
        """Calls, rows, distinct consumers and last successful use per service."""
        sql = """
            SELECT service, COUNT(*),
                   SUM(outcome = 'ok'), SUM(outcome != 'ok'),
                   COALESCE(SUM(CASE WHEN outcome = 'ok' THEN rows END), 0),
                   COUNT(DISTINCT CASE WHEN outcome = 'ok' THEN consumer END),
                   MAX(CASE WHEN outcome = 'ok' THEN time END)
            FROM audit GROUP BY service ORDER BY service
        """
        return [
            ServiceUsage(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), r[6])
            for r in self._conn.execute(sql)
        ]

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


def _read_or_create_key(path: Path) -> bytes:
    """The key file's content, creating it (32 random bytes, hex, mode 0600) the first time."""
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            key = path.read_bytes().strip()
            if not key:
                raise ConfigurationError(f"audit key {str(path)!r} is empty") from None
            return key
    except OSError as exc:
        raise ConfigurationError(f"cannot read or create audit key {str(path)!r}: {exc}") from None
    key = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    return key
