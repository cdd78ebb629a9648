"""The SQLite side of the audit log that the store and its verifier share: read-only opening,
the key file, the seal, and the check of the whole log in one read transaction.

Kept apart from ``audit`` (appending and reports) so that what ``verify`` does is in one place:
it opens nothing for writing, creates no file (not even the key), and reads the tables, the
seal, every record and the head as one snapshot.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import os
import re
import secrets
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

from .._exceptions import AuditIntegrityError, ConfigurationError
from .audit_chain import (
    GENESIS,
    SCHEMA_VERSION,
    SCHEMAS,
    ChainKey,
    Sealed,
    VerifyReport,
    _verify_chain,
)
from .audit_record import _COLUMNS, IDENTITY_COLUMNS, _now

__all__: list[str] = []

KEY_ENV = "GOVCONNECT_AUDIT_KEY"
TABLES = ("audit", "audit_head", "audit_meta")

SCHEMA = """
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
    officer_auth   TEXT,
    officer_digest TEXT,
    officer_issuer TEXT,
    officer_level  TEXT,
    token_id       TEXT,
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
"""


def verify_log(
    conn: sqlite3.Connection,
    path: Path,
    key: Callable[[], bytes],
    anchor: tuple[int, str] | None,
) -> VerifyReport:
    """Check the log behind ``conn`` (see :meth:`AuditLog.verify`); ``key`` loads the audit
    key when the log turns out to be keyed."""
    conn.execute("BEGIN")  # one snapshot: a live log's appends cannot fall between reads
    try:
        missing = [t for t in TABLES if t not in tables(conn)]
        if missing:
            kind = "replaced" if len(missing) == len(TABLES) else "dropped"
            raise AuditIntegrityError(
                0, kind, f"table(s) {', '.join(missing)} missing: not the audit log it was"
            )
        meta = read_meta(conn)
        sealed = _read_seal(conn, meta, path, key)
        rows = conn.execute(f"SELECT {select_list(conn)} FROM audit ORDER BY seq")
        report = _verify_chain(rows, lambda: read_head(conn), seq_finder(conn), anchor, sealed)
    finally:
        conn.execute("ROLLBACK")
    if meta.get("algorithm"):
        report.algorithm = meta["algorithm"]
    return report


def _read_seal(
    conn: sqlite3.Connection, meta: dict[str, str], path: Path, key: Callable[[], bytes]
) -> Sealed | None:
    """The seal of a keyed log, checked against the key; ``None`` for an unkeyed one."""
    if "schema" not in meta:
        if "mac" in columns(conn, "audit_head"):
            raise AuditIntegrityError(0, "altered", "the log was keyed, but its seal was removed")
        return None
    if meta["schema"] not in SCHEMAS:
        raise ConfigurationError(
            f"audit log {str(path)!r} has schema {meta['schema']!r}; this govconnect "
            f"reads schema {SCHEMA_VERSION} and older"
        )
    return check_seal(meta, ChainKey(key()), conn, path)


def connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that cannot write, and creates no file: ``mode=ro`` while a writer has the
    log open (its ``-wal`` exists, so nothing needs creating), else ``immutable=1`` (a closed
    log: SQLite would otherwise create a ``-shm`` beside it, impossible in a read-only folder)."""
    if not path.is_file():
        raise ConfigurationError(f"no audit log at {str(path)!r}")
    live = path.with_name(path.name + "-wal").exists()
    uri = path.resolve().as_uri() + ("?mode=ro" if live else "?immutable=1")
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        raise ConfigurationError(f"cannot read audit log {str(path)!r}: {exc}") from None
    return conn


def select_list(conn: sqlite3.Connection) -> str:
    """The columns of a record to ``SELECT``, in ``_COLUMNS`` order: a log written before the
    officer columns (schema 2, opened read-only so not migrated) reads them as NULL."""
    have = columns(conn, "audit")
    return ", ".join(c if c in have else f"NULL AS {c}" for c in _COLUMNS)


def add_identity_columns(conn: sqlite3.Connection) -> None:
    """Migrate a log written before the officer columns, for writing (schema 2 to 3): add the
    columns (older records keep NULL there, and hash as they did) and say schema 3 in the
    seal's meta, so a govconnect that knows only schema 2 refuses the log instead of failing to
    verify records it cannot read. One transaction; safe when another process migrated first."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = columns(conn, "audit")
        for column in IDENTITY_COLUMNS:
            if column not in have:
                conn.execute(f"ALTER TABLE audit ADD COLUMN {column} TEXT")
        conn.execute(
            "UPDATE audit_meta SET value = ? WHERE key = 'schema' AND value = '2'",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM audit_meta").fetchall())


def read_head(conn: sqlite3.Connection) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def seq_finder(conn: sqlite3.Connection) -> Callable[[str], int | None]:
    def seq_of_hash(value: str) -> int | None:
        row = conn.execute("SELECT seq FROM audit WHERE hash = ?", (value,)).fetchone()
        return None if row is None else int(row[0])

    return seq_of_hash


def write_seal(cur: sqlite3.Cursor, key: ChainKey) -> dict[str, str]:
    """Seal an unsealed log inside the caller's transaction: keyed from the record after its
    head (a new log from record 1); the head gets its MAC. Returns the meta rows written."""
    if "mac" not in columns(cur.connection, "audit_head"):
        cur.execute("ALTER TABLE audit_head ADD COLUMN mac TEXT")
    cur.execute("DROP TRIGGER IF EXISTS audit_advance_head")  # appends move the head and its MAC
    row = cur.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    seq, head_hash = (int(row[0]), str(row[1])) if row else (0, GENESIS)
    log_id, created = secrets.token_hex(16), _now()
    meta = {
        "schema": str(SCHEMA_VERSION),
        "log_id": log_id,
        "keyed_from": str(seq + 1),
        "created": created,
        "seal": key.seal(log_id, seq + 1, created),
    }
    cur.executemany("INSERT OR REPLACE INTO audit_meta (key, value) VALUES (?, ?)", meta.items())
    cur.execute("UPDATE audit_head SET mac = ? WHERE id = 1", (key.head(log_id, seq, head_hash),))
    return meta


def check_seal(meta: dict[str, str], key: ChainKey, conn: sqlite3.Connection, path: Path) -> Sealed:
    """The seal of ``meta`` if the key signed it; else the log was replaced or its seal edited."""
    try:
        log_id, created, seal = meta["log_id"], meta["created"], meta["seal"]
        keyed_from = int(meta["keyed_from"])
    except (KeyError, ValueError):
        raise AuditIntegrityError(0, "altered", "the log's seal is incomplete") from None
    if not hmac.compare_digest(seal, key.seal(log_id, keyed_from, created)):
        raise AuditIntegrityError(
            0,
            "replaced",
            f"the seal of {str(path)!r} does not match the audit key: the file was replaced by "
            "a log made with another key, or its seal was edited",
        )

    def head_mac() -> str | None:
        row = conn.execute("SELECT mac FROM audit_head WHERE id = 1").fetchone()
        return None if row is None else row[0]

    return Sealed(key, log_id, keyed_from, created, head_mac)


def read_key(path: Path) -> bytes:
    """The key file's content, for readers: never created here."""
    try:
        key = path.read_bytes().strip()
    except OSError:
        raise ConfigurationError(
            f"no audit key: set ${KEY_ENV} or keep the log's key file {str(path)!r} beside it"
        ) from None
    if not key:
        raise ConfigurationError(f"audit key {str(path)!r} is empty")
    return key


MIN_KEY_BYTES = 32
"""The least key material ``$GOVCONNECT_AUDIT_KEY`` may hold: as much as a key file's."""


def key_from_env(value: str) -> bytes:
    """``$GOVCONNECT_AUDIT_KEY``'s key, refused unless it holds at least 32 bytes of key material:
    64 hex digits or more (a key file's format: ``python -c "import secrets;
    print(secrets.token_hex(32))"``), or base64 / URL-safe base64 of 32 bytes or more. A short
    or guessable passphrase would let anyone who guesses it forge the chain's seal and reverse
    the parameter digests. The value is used as given (like a key file's hex text: logs keyed
    before this rule keep their seal)."""
    if _key_bytes(value.strip()) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"${KEY_ENV} must hold at least {MIN_KEY_BYTES} bytes of key material: 64 or more hex"
            f" digits, or base64 of {MIN_KEY_BYTES} bytes or more (generate one with"
            ' python -c "import secrets; print(secrets.token_hex(32))")'
        )
    return value.encode("utf-8")


def _key_bytes(text: str) -> int:
    """How many bytes of key material ``text`` encodes (hex, else base64 either alphabet)."""
    if _HEX.fullmatch(text):
        return len(text) // 2
    if _BASE64.fullmatch(text) or _URLSAFE.fullmatch(text):
        try:
            return len(base64.b64decode(text.translate(_TO_STANDARD) + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            return 0
    return 0


_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_URLSAFE = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_TO_STANDARD = str.maketrans("-_", "+/")


def read_or_create_key(path: Path) -> bytes:
    """The key file's content, creating it (32 random bytes, hex, mode 0600) the first time.

    The key is written whole under a temporary name and then linked into place (a link fails if
    the name exists): a thread or process opening the log at the same moment finds no file or
    the whole key, never an empty file, and the first link wins."""
    try:
        if not path.exists():
            _create_key(path)
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigurationError(f"cannot read or create audit key {str(path)!r}: {exc}") from None
    if not key:
        raise ConfigurationError(f"audit key {str(path)!r} is empty")
    return key


def _create_key(path: Path) -> None:
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_hex(32).encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(FileExistsError):  # another process's key is in place: kept
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
