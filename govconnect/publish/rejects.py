"""Records a publication does not send: the rejects file, and the memory of rejected records.

A rejected record stays rejected until its source row changes. Remembering it (its key and a
digest of the row as the source gave it) means an unchanged bad row is not judged, written and
counted against the threshold again on every run — which used to let three bad rows at the head
of an incremental read block every later publish.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from ..exchange.outbox.portable import executemany

__all__ = ["Reject", "RejectMemory", "RejectsFile", "source_fingerprint"]

StateUpdate = Callable[[Any], None]
"""A change to the publishing state, run inside the transaction that queues its batch (on either
engine's connection)."""

_UPSERT_REJECT = (
    "INSERT INTO publish_rejects VALUES (?, ?, ?) ON CONFLICT (resource, key)"
    " DO UPDATE SET fp = excluded.fp"
)


@dataclass(frozen=True)
class Reject:
    """One problem of one record that was not sent."""

    key: Any
    field: str
    rule: str
    message: str


class RejectsFile:
    """The JSONL rejects file of one publication, created at its first reject (not before).
    ``part`` tells apart the files of the key ranges of one partitioned publication
    (``-part2of3``), each written by its own worker process."""

    def __init__(self, folder: Path, resource: str, part: str = "") -> None:
        self.folder, self.resource, self.part = folder, resource, part
        self.path: Path | None = None
        self._fh: IO[str] | None = None

    def write(self, rejects: list[Reject]) -> None:
        if self._fh is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            name = f"{self.resource.replace('/', '_')}-{stamp}{self.part}.jsonl"
            self.path = self.folder / name
            self._fh = self.path.open("a", encoding="utf-8")
        for r in rejects:
            line = {
                "resource": self.resource,
                "key": r.key,
                "field": r.field,
                "rule": r.rule,
                "message": r.message,
            }
            self._fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


def source_fingerprint(record: Mapping[str, Any]) -> bytes:
    """A digest of a record as the source gave it, to tell whether a rejected row changed."""
    body = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS, default=str)
    return hashlib.blake2b(body, digest_size=16).digest()


class RejectMemory:
    """The rejected records of one dataset (key → source fingerprint), as of the last committed
    batch, plus this batch's changes to commit with it. An aborted batch commits nothing, so a
    run stopped by the threshold leaves its rejects to be judged again."""

    def __init__(self, resource: str, remembered: dict[str, bytes]) -> None:
        self.resource = resource
        self.remembered = remembered
        self.new: list[tuple[str, bytes]] = []

    def unchanged(self, key: str, record: Mapping[str, Any]) -> bool:
        """Whether this bad record was rejected before, unchanged; if not, remember it (with
        the batch)."""
        fp = source_fingerprint(record)
        if self.remembered.get(key) == fp:
            return True
        self.new.append((key, fp))
        return False

    def updates(self, good_keys: list[str]) -> list[StateUpdate]:
        """State changes for this batch: new rejects, and earlier rejects whose record now
        passed (looked up only when the dataset has any remembered)."""
        found: list[StateUpdate] = []
        fixed = [k for k in good_keys if k in self.remembered] if self.remembered else []
        if fixed:
            for k in fixed:
                del self.remembered[k]
            gone = [(self.resource, k) for k in fixed]
            found.append(
                lambda conn: executemany(
                    conn, "DELETE FROM publish_rejects WHERE resource = ? AND key = ?", gone
                )
            )
        if self.new:
            rows = [(self.resource, k, fp) for k, fp in self.new]
            self.remembered.update(self.new)
            found.append(lambda conn: executemany(conn, _UPSERT_REJECT, rows))
            self.new = []
        return found
