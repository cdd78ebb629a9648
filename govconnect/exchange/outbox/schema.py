"""The outbox file's tables, and the migration that brings a file of an earlier schema up to them.

Four tables hold the outbox: ``outbox`` (the chunk rows waiting to go out), ``outbox_batches``
(the live batches claimed from them, see ``claims``), ``outbox_delivered`` (one line per delivered
batch) and ``outbox_dead`` (dead letters); ``outbox_meta`` holds the file's id and the time of the
last sync. ``outbox_notices`` remembers every correction notice id ever queued (see
:data:`NOTICES_TABLE`).
"""

from __future__ import annotations

import sqlite3

from .portable import ddl

__all__ = [
    "BACKFILL_NOTICES",
    "INSERT_ROW",
    "NOTICES_TABLE",
    "OUTBOX_TABLE",
    "SCHEMA",
    "is_current",
    "migrate",
]

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

BATCHES_TABLE = """
CREATE TABLE IF NOT EXISTS outbox_batches (
    key             TEXT PRIMARY KEY,
    operation       TEXT NOT NULL,
    target          TEXT NOT NULL,
    first_id        INTEGER NOT NULL,
    last_id         INTEGER NOT NULL,
    user_id         TEXT,
    case_id         TEXT,
    records         INTEGER NOT NULL,
    created_at      REAL NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL,
    last_error      TEXT,
    row_count       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_batches_by_first ON outbox_batches(first_id);
"""

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
CREATE INDEX IF NOT EXISTS outbox_dead_by_key ON outbox_dead(batch_key);
"""
    + BATCHES_TABLE
)
# ``outbox_dead_by_key``: a rerun of the cross-check asks which of its notice ids are dead letters
# (to say so rather than count them as queued); without it each question scans the dead letters.

NOTICES_TABLE = """
CREATE TABLE IF NOT EXISTS outbox_notices (
    notice_id TEXT PRIMARY KEY,
    queued_at REAL NOT NULL
){without_rowid}
"""
"""Every correction notice id the outbox ever queued, written in the transaction that queues it
and never purged: "each notice once, ever" holds even after ``outbox purge`` forgot the delivery
log, and asking whether an id is known is one primary-key lookup, not a scan of four tables under
the write lock. One row per distinct notice: about 100 bytes (see ``docs/crosscheck.md``).
``{without_rowid}`` as :func:`~.portable.ddl` fills it in (SQLite clusters the table by id)."""

BACKFILL_NOTICES = """
INSERT INTO outbox_notices (notice_id, queued_at)
SELECT k, min(t) FROM (
    SELECT batch_key AS k, created_at AS t FROM outbox
        WHERE operation = 'correction' AND batch_key IS NOT NULL
    UNION ALL SELECT key, created_at FROM outbox_batches WHERE operation = 'correction'
    UNION ALL SELECT batch_key, delivered_at FROM outbox_delivered WHERE operation = 'correction'
    UNION ALL SELECT batch_key, dead_at FROM outbox_dead WHERE operation = 'correction'
) AS known GROUP BY k
"""
"""The notices an outbox of the previous schema holds (waiting, in flight, delivered and not yet
purged, dead), remembered as queued when ``outbox_notices`` is created: both engines run it once,
in the transaction that creates the table."""

INSERT_ROW = (
    "INSERT INTO outbox (operation, target, user_id, case_id, records, created_at, batch_key,"
    " payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
"""How a row enters ``outbox``: a row is the tuple of these columns, in this order."""


def _holds_chunks(conn: sqlite3.Connection) -> bool:
    columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    return "records" in columns


def _remembers_notices(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox_notices'"
    ).fetchone()
    return found is not None


def is_current(conn: sqlite3.Connection) -> bool:
    """Whether the file has this schema: ``outbox`` rows that hold chunks, and the table of
    notice ids queued."""
    return _holds_chunks(conn) and _remembers_notices(conn)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring an outbox file of an earlier schema up to this one, inside the caller's write
    transaction (nothing to do when it is current: another process may have migrated it).

    First schema: claims stored on each row; its claimed rows become ``outbox_batches`` rows
    with the same keys, leases dropped. Second schema: one record per row, payload before the
    small columns; the rows are copied as chunks of one record, batches gain their row count.
    Third schema: no ``outbox_notices``; it is created holding the correction notices the file
    already knows (a new file gets it here too, empty).
    """
    if not _holds_chunks(conn):
        _chunk_rows(conn)
    if not _remembers_notices(conn):
        conn.execute(ddl(True, NOTICES_TABLE))
        conn.execute(BACKFILL_NOTICES)


def _chunk_rows(conn: sqlite3.Connection) -> None:
    """The first and second schemas' rows (one record each) as rows of this one."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    batch_columns = {row[1] for row in conn.execute("PRAGMA table_info(outbox_batches)")}
    if "row_count" not in batch_columns:
        conn.execute("ALTER TABLE outbox_batches ADD COLUMN row_count INTEGER NOT NULL DEFAULT 0")
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
