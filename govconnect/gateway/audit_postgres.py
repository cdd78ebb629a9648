"""The audit log on PostgreSQL: one hash chain that several gateway processes, on one machine or
many, append to without forks or gaps.

``AuditLog("postgresql://user@host/db?schema=name")`` returns a :class:`PostgresAuditLog`: the
same API, records, chain, seal and head as the SQLite file (``audit``), in three tables of a
schema (``govconnect`` by default, shared with the outbox's tables when both point there),
created on first use under an advisory lock so processes starting together do not race.

**Appends.** Each process group-commits as the SQLite store does (its callers' queued records are
chained and inserted in one transaction, and each caller returns once its record is committed,
``synchronous_commit`` on: durable before the answer leaves). Between processes the append is
serialised by the head row: the transaction takes ``SELECT … FROM audit_head FOR UPDATE``, so it
reads the last sequence number and hash only once every other process's append has committed,
chains its batch after them, inserts it and moves the head (with its MAC) before it commits and
lets the next one in. Two processes can therefore never chain after the same record (a fork) or
skip a number (a gap); ``seq`` is the primary key besides. The cost per transaction is two
round trips, pipelined (``BEGIN`` with the head's lock and read; the insert with the head's move
in one statement, and ``COMMIT``).

**The key.** The chain and the parameter digests are keyed as in the file store, with the audit
key from ``$GOVCONNECT_AUDIT_KEY`` (or ``params_key=``): processes on several machines share
the log, so there is no key file beside it; every gateway process and every inspector who
verifies needs the same key.

``verify`` reads the tables, the seal, every record and the head in one ``REPEATABLE READ, READ
ONLY`` transaction on a connection of its own; the reports (``head``, ``find``, ``usage``,
``export``) of a log opened ``readonly`` run on a read-only session and create nothing.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import date
from typing import Any

from .._exceptions import AuditIntegrityError, ConfigurationError
from ..exchange.outbox.pg_schema import import_psycopg, parse_url
from .audit import AuditLog, _Pending
from .audit_chain import (
    GENESIS,
    SCHEMA_VERSION,
    SCHEMAS,
    ChainKey,
    Sealed,
    VerifyReport,
    _verify_chain,
)
from .audit_record import _COLUMNS, AuditRecord, _now, _record, parse_time
from .audit_reports import OfficerUsage, ServiceUsage, _officer_usage, _service_usage
from .audit_sqlite import KEY_ENV, TABLES, check_seal, key_from_env, read_head, read_meta
from .policy import HASH_NAME

__all__ = ["PostgresAuditLog"]

_TIMEOUT_MS = 10_000  # waiting for the head's lock; a session paused inside an append
_PAGE = 5000  # records read per query by ``records``

_TYPES = {"seq": "bigint", "rows": "integer", "status": "integer"}
_NOT_NULL = {"seq", "time", "service", "fields", "withheld", "masked", "rows", "outcome"}
_NOT_NULL |= {"status", "prev_hash", "hash"}


def _schema_sql(schema: str) -> str:
    """Every statement that creates the audit log's tables in ``schema`` (idempotent)."""
    columns = ",\n    ".join(
        f"{c} {_TYPES.get(c, 'text')}{' NOT NULL' if c in _NOT_NULL else ''}"
        + (" PRIMARY KEY" if c == "seq" else "")
        for c in _COLUMNS
    )
    return f"""
CREATE SCHEMA IF NOT EXISTS {schema};
SET LOCAL search_path TO {schema};
CREATE TABLE IF NOT EXISTS audit (
    {columns}
);
CREATE TABLE IF NOT EXISTS audit_head (
    id   integer PRIMARY KEY CHECK (id = 1),
    seq  bigint NOT NULL,
    hash text NOT NULL,
    mac  text
);
CREATE TABLE IF NOT EXISTS audit_meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '{GENESIS}') ON CONFLICT DO NOTHING;
INSERT INTO audit_meta VALUES ('algorithm', '{HASH_NAME}') ON CONFLICT DO NOTHING;
"""


class PostgresAuditLog(AuditLog):
    """The audit log in a PostgreSQL schema; share one object between the threads of a process
    and one schema between processes (see the module's docstring)."""

    def __init__(
        self,
        path: str,
        *,
        params_key: bytes | None = None,
        readonly: bool = False,
        schema: str | None = None,
    ) -> None:
        self._pg = import_psycopg("an audit log on PostgreSQL")
        try:
            self.location = parse_url(str(path), schema)
        except ConfigurationError as exc:  # the outbox's parser names the outbox
            raise ConfigurationError(str(exc).replace("outbox", "audit log", 1)) from None
        self.path = self.location.display  # what messages show: never the password
        self.schema = self.location.schema
        self.readonly = readonly
        self._params_key = params_key
        self._params_hmac = None
        self._memory = False
        self._sealed: Sealed | None = None
        self._lock = threading.Lock()  # one append transaction at a time in this process
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._writer: Any = None
        self._reader = self._connect()
        if not readonly:
            self._key()  # before creating anything: a log is sealed (keyed) when created
            self._create()
            self.seal()  # a shared log is keyed from its first record: the key is needed now
            return
        try:
            found = self._tables(self._reader)
        except self._pg.Error as exc:
            raise self._fault("read", exc) from None
        if not found:
            self._reader.close()
            raise ConfigurationError(f"no audit log at {self.path}")

    # --- connections --------------------------------------------------------------------------

    def _connect(self, *, autocommit: bool = True) -> Any:
        """A connection whose ``search_path`` is the log's schema (read-only when the log is)."""
        options = (
            f"-c search_path={self.schema} -c lock_timeout={_TIMEOUT_MS}"
            f" -c idle_in_transaction_session_timeout={_TIMEOUT_MS}"
        )
        if self.readonly:
            options += " -c default_transaction_read_only=on"
        try:
            return self._pg.connect(
                self.location.conninfo, autocommit=autocommit, connect_timeout=10, options=options
            )
        except self._pg.Error as exc:
            reason = str(exc).replace(self.location.conninfo, self.path).strip()
            raise ConfigurationError(
                f"cannot open the audit log at {self.path}: {reason.splitlines()[0]}"
            ) from None

    def _write_conn(self) -> Any:
        """The appending connection (used under ``_lock`` only); a lost one is replaced."""
        conn = self._writer
        if conn is None or conn.closed or conn.broken:
            conn = self._writer = self._connect()
        return conn

    def _read(self, sql: str, params: Any = ()) -> list[Any]:
        """Rows of one query on the reading connection (a lost one is replaced)."""
        with self._read_lock:
            if self._reader.closed or self._reader.broken:
                self._reader = self._connect()
            try:
                return self._reader.execute(sql, params).fetchall()
            except self._pg.Error as exc:
                raise self._fault("read", exc) from None

    def _fault(self, doing: str, exc: Exception) -> ConfigurationError:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return ConfigurationError(f"audit log at {self.path}: cannot {doing}: {first}")

    def _tables(self, conn: Any) -> set[str]:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (self.schema,),
        ).fetchall()
        return {r[0] for r in rows} & set(TABLES)

    def _create(self) -> None:
        """Create (or check) the schema and its tables, one process at a time, and refuse a
        log that lost some of its tables (``verify`` tells more)."""
        conn = self._reader
        try:
            known = self._tables(conn)
            if known != set(TABLES):  # DDL only when needed: it locks tables in use
                if known:
                    damaged = ", ".join(t for t in TABLES if t not in known)
                    raise ConfigurationError(
                        f"audit log at {self.path} is damaged: table(s) {damaged} missing "
                        "(`govconnect audit verify` tells more); nothing is appended to it"
                    )
                with conn.transaction():
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema + ".audit",)
                    )
                    conn.execute(_schema_sql(self.schema))
            algorithm = read_meta(conn).get("algorithm")
        except self._pg.Error as exc:
            raise self._fault("create its tables", exc) from None
        if algorithm not in (None, HASH_NAME):
            raise ConfigurationError(
                f"audit log at {self.path} is chained with {algorithm}, this Python has "
                f"{HASH_NAME} only"
            )

    def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is not None:
                conn.close()

    # --- the key and the seal -----------------------------------------------------------------

    def _key(self) -> bytes:
        if self._params_key is None:
            env = os.environ.get(KEY_ENV)
            if not env:
                raise ConfigurationError(
                    f"the audit log at {self.path} needs its key in ${KEY_ENV} (the same in "
                    "every gateway process and for whoever verifies): a shared log has no key "
                    "file beside it"
                )
            self._params_key = key_from_env(env)
        return self._params_key

    def _ensure_sealed(self) -> Sealed:
        """The log's seal, written by the first process to key the log (caller holds
        ``_lock``); a new PostgreSQL log is keyed from its first record."""
        if self._sealed is not None:
            return self._sealed
        key = ChainKey(self._key())
        conn = self._write_conn()
        try:
            with conn.transaction():
                seq, head_hash = conn.execute(
                    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
                ).fetchone()
                meta = read_meta(conn)
                if "schema" not in meta:  # no other process sealed it meanwhile
                    meta.update(_write_seal(conn, key, int(seq), str(head_hash)))
        except self._pg.Error as exc:
            raise self._fault("seal the log", exc) from None
        self._check_schema(meta)
        self._sealed = check_seal(meta, key, _Reads(self), self.path)
        return self._sealed

    def _check_schema(self, meta: dict[str, str]) -> None:
        if meta.get("schema", str(SCHEMA_VERSION)) not in SCHEMAS:
            raise ConfigurationError(
                f"audit log at {self.path} has schema {meta['schema']!r}; this govconnect "
                f"reads schema {SCHEMA_VERSION} and older"
            )

    # --- writing ------------------------------------------------------------------------------

    def _write(self, batch: list[_Pending]) -> None:
        """Chain and insert ``batch`` in one transaction that holds the head row's lock (the
        caller holds ``_lock``): every process's appends take turns there."""
        try:
            sealed = self._ensure_sealed()
            key = sealed.key
            conn = self._write_conn()
            # pipelined: BEGIN with the head's lock in one round trip, the insert with the
            # head's move and COMMIT in another
            with conn.pipeline(), conn.transaction():
                seq, prev = conn.execute(
                    "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
                ).fetchone()
                values: list[Any] = []
                for p in batch:
                    seq, p.prev = seq + 1, prev
                    p.seq, p.hash = seq, key.record(prev, seq, p.content)
                    prev = p.hash
                    values += (p.seq, *p.content, p.prev, p.hash)
                marks = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
                conn.execute(
                    f"WITH added AS (INSERT INTO audit ({', '.join(_COLUMNS)}) VALUES "
                    f"{', '.join([marks] * len(batch))}) "
                    "UPDATE audit_head SET seq = %s, hash = %s, mac = %s WHERE id = 1",
                    [*values, seq, prev, key.head(sealed.log_id, seq, prev)],
                )
        except Exception as exc:
            failure = self._fault("append", exc) if isinstance(exc, self._pg.Error) else exc
            for p in batch:
                p.error, p.done = failure, True
            return
        for p in batch:
            p.done = True

    def seal(self) -> None:
        with self._lock:
            self._ensure_sealed()

    # --- reading ------------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        rows = self._read("SELECT seq, hash FROM audit_head WHERE id = 1")
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS)

    def __len__(self) -> int:
        return int(self._read("SELECT count(*) FROM audit")[0][0])

    def records(
        self, since: str | date | None = None, until: str | date | None = None
    ) -> Iterator[AuditRecord]:
        """Records in chain order, optionally within ``[since, until)`` (UTC), read a page at
        a time (no lock or transaction held between pages)."""
        where, args = ["seq > %s"], []
        if since is not None:
            where.append("time >= %s")
            args.append(parse_time(since))
        if until is not None:
            where.append("time < %s")
            args.append(parse_time(until))
        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit WHERE {' AND '.join(where)}"
        sql += f" ORDER BY seq LIMIT {_PAGE}"
        after = 0
        while True:
            rows = self._read(sql, [after, *args])
            for row in rows:
                yield _record(row)
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def _matching(self, where: str, args: list[Any]) -> Iterator[AuditRecord]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM audit WHERE {where} ORDER BY seq"
        for row in self._read(sql, args):
            yield _record(row)

    def find(self, params: Any) -> Iterator[AuditRecord]:
        return self._matching("params_digest = %s", [self.params_digest(params)])

    def find_officer(self, subject: str, issuer: str | None = None) -> Iterator[AuditRecord]:
        if issuer is None:
            return self._matching("officer_digest = %s", [self.officer_digest(subject)])
        where = "officer_digest = %s AND officer_issuer = %s"
        return self._matching(where, [self.officer_digest(subject), issuer])

    def usage(self) -> list[ServiceUsage]:
        return _service_usage(_Reads(self))

    def officer_usage(self) -> list[OfficerUsage]:
        return _officer_usage(_Reads(self), _COLUMNS)

    def _seq_of_hash(self, value: str) -> int | None:
        rows = self._read("SELECT seq FROM audit WHERE hash = %s", (value,))
        return int(rows[0][0]) if rows else None

    # --- verification -------------------------------------------------------------------------

    def verify(self, anchor: tuple[int, str] | None = None) -> VerifyReport:
        """Walk the chain in one read-only snapshot; raise :class:`AuditIntegrityError` naming
        the first bad record (a fork — two records chained after one — as ``forked``)."""
        iso = self._pg.IsolationLevel.REPEATABLE_READ
        conn = self._connect(autocommit=False)
        try:
            conn.isolation_level, conn.read_only = iso, True
            return _verify(conn, self, anchor)
        except self._pg.Error as exc:
            raise self._fault("verify", exc) from None
        finally:
            conn.close()  # the read-only snapshot ends with it


class _Rows:
    """Rows already fetched, read as a cursor's would be."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class _Reads:
    """A PostgreSQL log's reading connection as the shared report queries use one."""

    def __init__(self, log: PostgresAuditLog) -> None:
        self._log = log

    def execute(self, sql: str, params: Any = ()) -> _Rows:
        return _Rows(self._log._read(sql, params))


def _write_seal(conn: Any, key: ChainKey, seq: int, head_hash: str) -> dict[str, str]:
    """Seal a new log inside the caller's transaction (keyed from the record after the head)."""
    import secrets

    log_id, created = secrets.token_hex(16), _now()
    meta = {
        "schema": str(SCHEMA_VERSION),
        "log_id": log_id,
        "keyed_from": str(seq + 1),
        "created": created,
        "seal": key.seal(log_id, seq + 1, created),
    }
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit_meta (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            list(meta.items()),
        )
    conn.execute("UPDATE audit_head SET mac = %s WHERE id = 1", (key.head(log_id, seq, head_hash),))
    return meta


def _verify(conn: Any, log: PostgresAuditLog, anchor: tuple[int, str] | None) -> VerifyReport:
    """The check of :meth:`PostgresAuditLog.verify` inside its read-only snapshot."""
    missing = [t for t in TABLES if t not in log._tables(conn)]
    if missing:
        kind = "replaced" if len(missing) == len(TABLES) else "dropped"
        raise AuditIntegrityError(
            0, kind, f"table(s) {', '.join(missing)} missing: not the audit log it was"
        )
    meta = read_meta(conn)
    if "schema" not in meta:
        raise AuditIntegrityError(0, "altered", "the log was keyed, but its seal was removed")
    log._check_schema(meta)
    sealed = check_seal(meta, ChainKey(log._key()), conn, log.path)

    def seq_of_hash(value: str) -> int | None:
        row = conn.execute("SELECT seq FROM audit WHERE hash = %s", (value,)).fetchone()
        return None if row is None else int(row[0])

    with conn.cursor(name="audit_verify") as rows:
        rows.itersize = 2000
        rows.execute(f"SELECT {', '.join(_COLUMNS)} FROM audit ORDER BY seq")
        try:
            report = _verify_chain(rows, lambda: read_head(conn), seq_of_hash, anchor, sealed)
        except AuditIntegrityError as exc:
            raise _fork_before(conn, exc.seq) or exc from None
    report.algorithm = meta.get("algorithm") or report.algorithm
    return report


def _fork_before(conn: Any, seq: int) -> AuditIntegrityError | None:
    """The first fork (two records chained after one record) whose span holds ``seq``, where the
    walk stopped: it explains that stop better than a broken link does. ``None`` without one."""
    row = conn.execute(
        "SELECT prev_hash, array_agg(seq ORDER BY seq) FROM audit GROUP BY prev_hash"
        " HAVING count(*) > 1 ORDER BY min(seq) LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    first, second = row[1][0], row[1][1]
    parent = conn.execute("SELECT seq FROM audit WHERE hash = %s", (row[0],)).fetchone()
    start = first if parent is None else int(parent[0]) + 1
    if not start <= seq <= second:
        return None
    after = f"record {parent[0]}" if parent else "the same missing record"
    return AuditIntegrityError(
        second, "forked", f"records {first} and {second} are both chained after {after}"
    )
