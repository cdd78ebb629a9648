"""The publisher's memory, in the outbox's own SQLite file: bookmarks, fingerprints, the last
publication of each dataset, its size, and the records it rejected.

Kept in the outbox's file so that a batch and the state it advances (a bookmark, fingerprints,
remembered rejects) commit in one transaction: the state never runs ahead of what is queued.
"""

from __future__ import annotations

import json
import sqlite3
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["PublishState", "SeenKeys"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS publish_bookmarks (
    resource TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS publish_fingerprints (
    resource TEXT NOT NULL, key TEXT NOT NULL, fp BLOB NOT NULL, run INTEGER NOT NULL,
    PRIMARY KEY (resource, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS publish_runs (
    resource TEXT PRIMARY KEY, run INTEGER NOT NULL, finished_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS publish_sizes (
    resource TEXT PRIMARY KEY, records INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS publish_rejects (
    resource TEXT NOT NULL, key TEXT NOT NULL, fp BLOB NOT NULL,
    PRIMARY KEY (resource, key)) WITHOUT ROWID;
"""


class PublishState:
    """Bookmarks, fingerprints and last publication times, in the outbox's own SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def bookmark(self, resource: str) -> Any:
        row = self._db.execute(
            "SELECT value FROM publish_bookmarks WHERE resource = ?", (resource,)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def last_run(self, resource: str) -> tuple[int, float | None]:
        row = self._db.execute(
            "SELECT run, finished_at FROM publish_runs WHERE resource = ?", (resource,)
        ).fetchone()
        return (row[0], row[1]) if row else (0, None)

    def fingerprints(self, resource: str, keys: Sequence[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), 900):  # SQLite's bound-parameter limit
            chunk = keys[start : start + 900]
            marks = ",".join("?" * len(chunk))
            found.update(
                self._db.execute(
                    f"SELECT key, fp FROM publish_fingerprints WHERE resource = ? AND key IN ({marks})",
                    (resource, *chunk),
                ).fetchall()
            )
        return found

    def stale_keys(self, resource: str, run: int, limit: int) -> list[str]:
        """Keys not seen in ``run``: records deleted at the source since the last publication."""
        rows = self._db.execute(
            "SELECT key FROM publish_fingerprints WHERE resource = ? AND run != ? LIMIT ?",
            (resource, run, limit),
        ).fetchall()
        return [r[0] for r in rows]

    def run_state_only(self, apply: Callable[[sqlite3.Connection], None]) -> None:
        """A state change with no records to queue (fingerprints of unchanged records)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            apply(self._db)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def size(self, resource: str) -> int:
        """How many records the dataset had as far as publishing knows (0: never published)."""
        row = self._db.execute(
            "SELECT records FROM publish_sizes WHERE resource = ?", (resource,)
        ).fetchone()
        return int(row[0]) if row else 0

    def remembered_rejects(self, resource: str) -> dict[str, bytes]:
        """Key → fingerprint of the source record of every record rejected and not fixed since.

        Loaded whole: rejects are few (the threshold stops a run that has many)."""
        rows = self._db.execute(
            "SELECT key, fp FROM publish_rejects WHERE resource = ?", (resource,)
        ).fetchall()
        return dict(rows)

    def close(self) -> None:
        self._db.close()


def _set_bookmark(resource: str, value: Any) -> Callable[[sqlite3.Connection], None]:
    encoded = json.dumps(value, ensure_ascii=False)

    def apply(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO publish_bookmarks VALUES (?, ?, ?)",
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
