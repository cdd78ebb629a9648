"""The publisher's memory, in the outbox's own store (its SQLite file or PostgreSQL schema):
bookmarks, fingerprints, the last publication of each dataset, its size, the records it
rejected, and the key ranges of a dataset published by several workers.

Kept in the outbox's store so that a batch and the state it advances (a bookmark, fingerprints,
remembered rejects) commit in one transaction: the state never runs ahead of what is queued. The
SQL runs on both engines (see ``exchange.outbox.portable``).
"""

from __future__ import annotations

import json
import os
import time
from array import array
from collections.abc import Callable, Sequence
from typing import Any

from ..exchange.outbox.portable import execute, in_values, insert_rows, is_sqlite
from ..exchange.outbox.store import Outbox

RANGES_SCHEMA = """
CREATE TABLE IF NOT EXISTS publish_ranges (
    resource TEXT NOT NULL, part INTEGER NOT NULL, lower TEXT, upper TEXT, bookmark TEXT,
    PRIMARY KEY (resource, part));
CREATE TABLE IF NOT EXISTS publish_locks (
    resource TEXT PRIMARY KEY, holder TEXT NOT NULL, since double precision NOT NULL)
"""
"""The key ranges of each dataset's current plan for parallel publishing (``partitions``):
bounds and bookmark as JSON; NULL is unbounded, or no bookmark yet (read the whole range).
``publish_locks``: who holds a dataset's run lock and since when (:mod:`.lock`), to name it."""

__all__ = ["PublishState", "SeenKeys", "upsert_fingerprints"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS publish_bookmarks (
    resource TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at double precision NOT NULL);
CREATE TABLE IF NOT EXISTS publish_fingerprints (
    resource TEXT NOT NULL, key TEXT NOT NULL, fp {blob} NOT NULL, run INTEGER NOT NULL,
    PRIMARY KEY (resource, key)){without_rowid};
CREATE TABLE IF NOT EXISTS publish_runs (
    resource TEXT PRIMARY KEY, run INTEGER NOT NULL, finished_at double precision NOT NULL);
CREATE TABLE IF NOT EXISTS publish_sizes (
    resource TEXT PRIMARY KEY, records bigint NOT NULL);
CREATE TABLE IF NOT EXISTS publish_rejects (
    resource TEXT NOT NULL, key TEXT NOT NULL, fp {blob} NOT NULL,
    PRIMARY KEY (resource, key)){without_rowid}
"""

FINGERPRINTS_ON_CONFLICT = (
    "ON CONFLICT (resource, key) DO UPDATE SET fp = excluded.fp, run = excluded.run"
)
"""With ``insert_rows(conn, "INSERT INTO publish_fingerprints", rows, …)``: keys unique per
batch (``SeenKeys`` drops a key read twice before fingerprints are taken)."""

_UNNEST_FINGERPRINTS = (
    "INSERT INTO publish_fingerprints SELECT * FROM unnest(%s::text[], %s::text[],"
    f" %s::bytea[], %s::integer[]) {FINGERPRINTS_ON_CONFLICT}"
)


def upsert_fingerprints(conn: Any, rows: Sequence[tuple[str, str, bytes, int]]) -> None:
    """Store ``(resource, key, fp, run)`` rows in the batch's transaction. On PostgreSQL one
    statement with four arrays: a ``VALUES`` list of 2,000 parameters is parsed again by
    psycopg for every statement (too long to cache), which cost a worker more CPU than the
    records' validation did (measured: 52 ms per 500 rows)."""
    if not rows:
        return
    if is_sqlite(conn):
        insert_rows(conn, "INSERT INTO publish_fingerprints", rows, FINGERPRINTS_ON_CONFLICT)
        return
    conn.execute(_UNNEST_FINGERPRINTS, [list(column) for column in zip(*rows, strict=True)])


class PublishState:
    """Bookmarks, fingerprints and last publication times, in the outbox's own store.

    ``store``: the :class:`Outbox` the batches go to (the state then shares its connections and
    transactions), or an outbox location (a file path, a PostgreSQL URL), opened here.
    """

    def __init__(self, store: Outbox | str | os.PathLike[str]) -> None:
        self._owns_outbox = not isinstance(store, Outbox)
        self.outbox = store if isinstance(store, Outbox) else Outbox(store)
        self.path = self.outbox.path
        self.outbox.create_tables("publish_state", _SCHEMA, "publish_rejects")
        self.outbox.create_tables("publish_ranges", RANGES_SCHEMA, "publish_locks")

    def bookmark(self, resource: str) -> Any:
        rows = self.outbox.read(
            "SELECT value FROM publish_bookmarks WHERE resource = ?", (resource,)
        )
        return json.loads(rows[0][0]) if rows else None

    def last_run(self, resource: str) -> tuple[int, float | None]:
        rows = self.outbox.read(
            "SELECT run, finished_at FROM publish_runs WHERE resource = ?", (resource,)
        )
        return (rows[0][0], rows[0][1]) if rows else (0, None)

    def fingerprints(self, resource: str, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), 900):
            condition, params = in_values(self.outbox.is_file, "key", keys[start : start + 900])
            sql = f"SELECT key, fp FROM publish_fingerprints WHERE resource = ? AND {condition}"
            found.update((key, bytes(fp)) for key, fp in self.outbox.read(sql, (resource, *params)))
        return found

    def stale_keys(
        self, resource: str, run: int, limit: int, *, after: str | None = None
    ) -> list[str]:
        """Keys not seen in ``run`` (records deleted at the source since the last publication),
        in key order, after ``after`` when given (to page past keys a caller keeps)."""
        page = "" if after is None else " AND key > ?"
        rows = self.outbox.read(
            f"SELECT key FROM publish_fingerprints WHERE resource = ? AND run != ?{page}"
            " ORDER BY key LIMIT ?",
            (resource, run, *(() if after is None else (after,)), limit),
        )
        return [r[0] for r in rows]

    def run_state_only(self, apply: Callable[[Any], None]) -> None:
        """A state change with no records to queue (fingerprints of unchanged records)."""
        self.outbox.write_state(apply)

    def size(self, resource: str) -> int:
        """How many records the dataset had as far as publishing knows (0: never published)."""
        rows = self.outbox.read("SELECT records FROM publish_sizes WHERE resource = ?", (resource,))
        return int(rows[0][0]) if rows else 0

    def remembered_rejects(self, resource: str) -> dict[str, bytes]:
        """Key → fingerprint of the source record of every record rejected and not fixed since.

        Loaded whole: rejects are few (the threshold stops a run that has many)."""
        rows = self.outbox.read(
            "SELECT key, fp FROM publish_rejects WHERE resource = ?", (resource,)
        )
        return {key: bytes(fp) for key, fp in rows}

    def close(self) -> None:
        """Close the outbox the state opened itself (one it was given stays open)."""
        if self._owns_outbox:
            self.outbox.close()


def _set_bookmark(resource: str, value: Any) -> Callable[[Any], None]:
    encoded = json.dumps(value, ensure_ascii=False)

    def apply(conn: Any) -> None:
        execute(
            conn,
            "INSERT INTO publish_bookmarks VALUES (?, ?, ?) ON CONFLICT (resource)"
            " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (resource, encoded, time.time()),
        )

    return apply


class SeenKeys:
    """The keys one publication has read, to find duplicates (``key.unique``) cheaply.

    An open-addressing set of 64-bit key hashes in one ``array('q')``: about 16 bytes per key
    (a Python ``set`` of the same hashes costs ~75 bytes per key, which a million-row dataset
    would add to a publisher that stays well under 150 MB). Two different keys sharing a 64-bit
    hash is about a 1-in-30-million event per million-row run; it would reject one record as a
    duplicate, visibly, in the rejects file.
    """

    __slots__ = ("_mask", "_slots", "_used")

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._slots = array("q", bytes(8 * capacity))
        self._mask = capacity - 1
        self._used = 0

    def add_all(self, keys: Sequence[str]) -> list[int]:
        """Add every key; return the positions of those read before (in earlier batches or
        earlier in ``keys``)."""
        if (self._used + len(keys)) * 2 > self._mask:
            self._grow(self._used + len(keys))
        slots, mask = self._slots, self._mask
        repeated = []
        for i, key in enumerate(keys):
            h = hash(key) or 1  # 0 marks an empty slot
            j = h & mask
            while True:
                v = slots[j]
                if v == 0:
                    slots[j] = h
                    break
                if v == h:
                    repeated.append(i)
                    break
                j = (j + 1) & mask
        self._used += len(keys) - len(repeated)
        return repeated

    def _grow(self, need: int) -> None:
        capacity = self._mask + 1
        while need * 2 > capacity - 1:
            capacity *= 2
        old = self._slots
        self._slots = slots = array("q", bytes(8 * capacity))
        self._mask = mask = capacity - 1
        for h in old:
            if h:
                j = h & mask
                while slots[j]:
                    j = (j + 1) & mask
                slots[j] = h
