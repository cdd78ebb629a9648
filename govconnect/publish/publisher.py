"""Dataset publishing: keep the platform's copy of a catalogued dataset current, cheaply.

Sharing through the platform (库表/接口 exchange) means a department's datasets live there too and
follow "dynamic update" at the cycle the catalog promises. The publisher reads a dataset service,
validates every record against its model, and hands batches to the durable outbox:

- **incremental by default**: datasets with a replication key (``updated_at``, a growing id) resume
  after a bookmark (minus an optional ``lookback`` window, for rows a legacy transaction committed
  late); the bookmark moves in the same SQLite transaction that commits the batch to the outbox,
  so it never runs ahead of what is safely queued;
- **change detection** for datasets without one: a fingerprint per record finds inserts, updates
  and deletes since the last publication; deletes travel as tombstones;
- **stable identity**: each record carries its key as ``id``, so republishing (``full=True``) upserts
  and never duplicates at the platform;
- **constant memory**: records stream in batches; per-batch work (validation, encoding, fingerprint
  look-ups, the outbox write) is done per batch;
- **bad records** are not sent: each is written to a rejects file with its key, field and rule, and a
  reject rate over the threshold stops the run with :class:`PublishAbortedError`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import orjson
from pydantic import TypeAdapter, ValidationError

from .._connector import Connector, Service, connector_faults
from .._exceptions import ConfigurationError, Problem, PublishAbortedError
from .._validation import problems_from_pydantic
from ..catalog.model import UpdateCycle
from ..exchange.outbox import Outbox

if TYPE_CHECKING:
    from .._registry import Registry

__all__ = [
    "CYCLE_SECONDS",
    "PublishReport",
    "PublishState",
    "Publisher",
    "Reject",
    "datasets",
    "resolve_dataset",
]

CYCLE_SECONDS = {
    UpdateCycle.REAL_TIME: 0,
    UpdateCycle.DAILY: 86_400,
    UpdateCycle.WEEKLY: 7 * 86_400,
    UpdateCycle.MONTHLY: 30 * 86_400,
    UpdateCycle.QUARTERLY: 91 * 86_400,
    UpdateCycle.HALF_YEARLY: 182 * 86_400,
    UpdateCycle.YEARLY: 365 * 86_400,
}
"""How long a publication stays fresh for each update cycle (更新周期)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS publish_bookmarks (
    resource TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS publish_fingerprints (
    resource TEXT NOT NULL, key TEXT NOT NULL, fp BLOB NOT NULL, run INTEGER NOT NULL,
    PRIMARY KEY (resource, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS publish_runs (
    resource TEXT PRIMARY KEY, run INTEGER NOT NULL, finished_at REAL NOT NULL);
"""


@dataclass(frozen=True)
class Reject:
    """One problem of one record that was not sent."""

    key: Any
    field: str
    rule: str
    message: str


@dataclass
class PublishReport:
    """What one publication did."""

    resource_code: str
    mode: str
    read: int = 0
    published: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    batches: int = 0
    bookmark_before: Any = None
    bookmark_after: Any = None
    rejects_file: str | None = None
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rows_per_second": round(self.rows_per_second, 1)}


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


def _looked_back(bookmark: Any, lookback: float) -> Any:
    """Where an incremental read starts: ``lookback`` before the bookmark, so that rows a long
    legacy transaction committed late (with an older timestamp) are still read. Timestamps step
    back by seconds, integer keys by that many units; re-read rows are upserts at the platform."""
    if not lookback or bookmark is None:
        return bookmark
    if isinstance(bookmark, int) and not isinstance(bookmark, bool):
        return bookmark - int(lookback)
    if isinstance(bookmark, str):
        try:
            moment = datetime.fromisoformat(bookmark)
        except ValueError:
            return bookmark
        return (moment - timedelta(seconds=lookback)).isoformat()
    return bookmark


def _batched(
    items: Callable[[], Iterable[Any]], size: int, guard: Callable[[], Any]
) -> Iterator[tuple[list[Any], bool]]:
    """Chunks of ``size`` with a flag telling whether it is the last one (one chunk lookahead).

    ``items`` is called and each chunk is read inside ``guard()``: that is where connector code
    runs, so a legacy failure is told apart from our own (the outbox write happens outside it).
    Guarding per chunk, not per record, keeps the hot path free of it.
    """
    with guard():
        iterator = iter(items())
        current = list(itertools.islice(iterator, size))
    while current:
        with guard():
            following = list(itertools.islice(iterator, size))
        yield current, not following
        current = following


def datasets(registry: Registry, connector: str | None = None) -> list[Service]:
    """The dataset services of the loaded connectors (or of one), by resource code."""
    return [s for s in registry.services(connector) if s.kind == "dataset"]


def resolve_dataset(registry: Registry, code: str, connector: str | None = None) -> Service:
    """The dataset with this resource code; an error lists the known ones."""
    for svc in datasets(registry, connector):
        if svc.code == code:
            return svc
    known = ", ".join(s.code for s in datasets(registry, connector)) or "none"
    raise ConfigurationError(f"no dataset with resource code {code!r} (datasets: {known})")


class Publisher:
    """Publish catalogued datasets of loaded connectors into the outbox."""

    def __init__(
        self,
        registry: Registry,
        outbox: Outbox,
        *,
        batch_size: int = 2000,
        reject_threshold: float = 0.05,
        min_sample: int = 1000,
        rejects_dir: str | Path = ".govconnect/rejects",
        user_id: str | None = None,
        clock: Callable[[], float] = time.time,
        lookback: float = 0.0,
    ) -> None:
        if lookback < 0:
            raise ConfigurationError(f"lookback must not be negative, not {lookback}")
        if not 0 <= reject_threshold <= 1:
            raise ConfigurationError(
                f"reject threshold must be within 0..1, not {reject_threshold}"
            )
        self.registry, self.outbox = registry, outbox
        self.lookback = lookback
        self.state = PublishState(outbox.path)
        self.batch_size, self.reject_threshold, self.min_sample = (
            batch_size,
            reject_threshold,
            min_sample,
        )
        self.rejects_dir, self.user_id, self.clock = Path(rejects_dir), user_id, clock

    # --- which datasets ---------------------------------------------------------------------------

    def datasets(self, connector: str | None = None) -> list[Service]:
        return datasets(self.registry, connector)

    def resolve(self, code: str, connector: str | None = None) -> Service:
        return resolve_dataset(self.registry, code, connector)

    def due(self, connector: str | None = None, now: float | None = None) -> list[Service]:
        """Datasets whose last publication is older than their update cycle promises."""
        now = self.clock() if now is None else now
        due = []
        for svc in self.datasets(connector):
            _, finished = self.state.last_run(svc.code)
            if finished is None or now - finished >= CYCLE_SECONDS[svc.resource.update_cycle]:
                due.append(svc)
        return due

    # --- one dataset --------------------------------------------------------------------------------

    def publish(
        self,
        target: str | Service,
        *,
        full: bool = False,
        since: Any = None,
        settings: Mapping[str, Any] | None = None,
        on_batch: Callable[[PublishReport], None] | None = None,
    ) -> PublishReport:
        svc = target if isinstance(target, Service) else self.resolve(target)
        if svc.kind != "dataset":
            raise ConfigurationError(f"{svc.qualified_name} is a query service, not a dataset")
        with self.registry.connector(svc.connector.name, settings) as connector:
            return _Run(self, svc, connector, full=full, since=since, on_batch=on_batch).go()

    def close(self) -> None:
        self.state.close()


class _Run:
    """One publication of one dataset (kept apart so Publisher stays small and stateless)."""

    def __init__(
        self,
        pub: Publisher,
        svc: Service,
        connector: Connector,
        *,
        full: bool,
        since: Any,
        on_batch: Callable[[PublishReport], None] | None,
    ) -> None:
        self.pub, self.svc, self.connector, self.on_batch = pub, svc, connector, on_batch
        self.code = svc.code
        self.fingerprinting = svc.replication_key is None
        mode = "full" if full else ("fingerprint" if self.fingerprinting else "incremental")
        self.report = PublishReport(self.code, mode)
        self.full = full
        self.bookmark = (
            None if full else (since if since is not None else pub.state.bookmark(self.code))
        )
        self.report.bookmark_before = self.bookmark
        self.run_id = pub.state.last_run(self.code)[0] + 1
        self.item = TypeAdapter(svc.record_model)
        self.many = TypeAdapter(list[svc.record_model])  # type: ignore[name-defined]
        self._rejects: IO[str] | None = None

    # the pieces ---------------------------------------------------------------------------------------

    def source(self) -> Iterable[Any]:
        svc = self.svc
        if not svc.takes_params:
            return svc.function(self.connector)
        fields = svc.params_model.model_fields
        since = _looked_back(self.bookmark, self.pub.lookback)
        values = {"since": since} if "since" in fields and since is not None else {}
        return svc.function(self.connector, svc.params_model.model_validate(values))

    def validate(self, chunk: list[Any]) -> tuple[list[Any], list[Reject], int]:
        """Validate a whole batch in one call; only a dirty batch is re-checked record by record."""
        model = self.svc.record_model
        raw = [r.model_dump() if isinstance(r, model) else r for r in chunk]
        try:
            return self.many.validate_python(raw), [], 0
        except ValidationError as exc:
            bad = {e["loc"][0] for e in exc.errors(include_url=False) if e["loc"]}
        good, rejects = [], []
        key = self.svc.key or ""
        for record in raw:
            try:
                good.append(self.item.validate_python(record))
            except ValidationError as exc:
                rkey = record.get(key) if isinstance(record, Mapping) else None
                rejects.extend(
                    Reject(rkey, p.field, p.rule, p.message) for p in problems_from_pydantic(exc)
                )
        return good, rejects, len(bad)

    def write_rejects(self, rejects: list[Reject]) -> None:
        if self._rejects is None:
            self.pub.rejects_dir.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
            path = self.pub.rejects_dir / f"{self.code.replace('/', '_')}-{stamp}.jsonl"
            self._rejects = path.open("a", encoding="utf-8")
            self.report.rejects_file = str(path)
        for r in rejects:
            line = {
                "resource": self.code,
                "key": r.key,
                "field": r.field,
                "rule": r.rule,
                "message": r.message,
            }
            self._rejects.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self._rejects.flush()

    def check_threshold(self, last: bool) -> None:
        r = self.report
        if r.read == 0 or (r.read < self.pub.min_sample and not last):
            return
        rate = r.rejected / r.read
        if rate > self.pub.reject_threshold:
            raise PublishAbortedError(
                [
                    Problem(
                        self.code,
                        "reject_threshold",
                        f"{r.rejected} of {r.read} records ({rate:.1%}) failed validation, over the "
                        f"threshold of {self.pub.reject_threshold:.1%}; see {r.rejects_file}",
                    )
                ],
                summary=f"publishing {self.code} stopped",
            )

    # the run ------------------------------------------------------------------------------------------

    def go(self) -> PublishReport:
        started = time.perf_counter()
        try:
            guard = functools.partial(connector_faults, self.svc.connector.name, self.svc.name)
            for chunk, last in _batched(self.source, self.pub.batch_size, guard):
                records, rejects, bad = self.validate(chunk)
                self.report.read += len(chunk)
                if rejects:
                    self.report.rejected += bad
                    self.write_rejects(rejects)
                self.check_threshold(last)
                kept = sorted({str(r.key) for r in rejects if r.key is not None})
                self.queue(records, rejected_keys=kept)
                self.report.batches += 1
                if self.on_batch is not None:
                    self.on_batch(self.report)
            if self.fingerprinting:
                self.tombstones()
            self.finish()
        finally:
            if self._rejects is not None:
                self._rejects.close()
            self.report.seconds = time.perf_counter() - started
        return self.report

    def queue(self, records: list[Any], rejected_keys: Sequence[str] = ()) -> None:
        """Encode a batch, drop unchanged records, and commit records and state together.

        A rejected record still exists at the source: its last published version stands on the
        platform, so its fingerprint is kept as seen in this run (no tombstone for a dirty row).
        """
        svc, dump = self.svc, self.item.dump_json
        key_name = svc.key or ""
        keys = [str(getattr(r, key_name)) for r in records]
        bodies = [dump(r) for r in records]
        state_updates: list[Callable[[sqlite3.Connection], None]] = []
        selected = range(len(records))
        if self.fingerprinting:
            fps = [hashlib.blake2b(b, digest_size=16).digest() for b in bodies]
            known = {} if self.full else self.pub.state.fingerprints(self.code, keys)
            selected = [i for i in selected if known.get(keys[i]) != fps[i]]
            self.report.unchanged += len(records) - len(selected)
            rows = [(self.code, k, fp, self.run_id) for k, fp in zip(keys, fps, strict=True)]
            seen = [(self.run_id, self.code, k) for k in rejected_keys]
            state_updates.append(
                lambda conn: conn.executemany(
                    "INSERT OR REPLACE INTO publish_fingerprints VALUES (?, ?, ?, ?)", rows
                )
            )
            state_updates.append(
                lambda conn: conn.executemany(
                    "UPDATE publish_fingerprints SET run = ? WHERE resource = ? AND key = ?", seen
                )
            )
        elif records:
            newest = self.item.dump_python(records[-1], mode="json")[svc.replication_key]
            self.report.bookmark_after = newest
            state_updates.append(_set_bookmark(self.code, newest))
        payloads = [
            b'{"id":%b,"op":"upsert","data":%b}' % (orjson.dumps(keys[i]), bodies[i])
            for i in selected
        ]

        def within(conn: sqlite3.Connection) -> None:
            for update in state_updates:
                update(conn)

        if payloads:
            self.pub.outbox.enqueue_encoded(
                self.code, payloads, user_id=self.pub.user_id, within=within
            )
        elif state_updates:
            self.pub.state.run_state_only(within)
        self.report.published += len(payloads)

    def tombstones(self) -> None:
        """Records the source no longer has: one ``delete`` each, fingerprints dropped with them."""
        while True:
            stale = self.pub.state.stale_keys(self.code, self.run_id, min(self.pub.batch_size, 900))
            if not stale:
                return
            payloads = [b'{"id":%b,"op":"delete"}' % orjson.dumps(k) for k in stale]
            marks = ",".join("?" * len(stale))

            def drop(
                conn: sqlite3.Connection, stale: list[str] = stale, marks: str = marks
            ) -> None:
                conn.execute(
                    f"DELETE FROM publish_fingerprints WHERE resource = ? AND key IN ({marks})",
                    (self.code, *stale),
                )

            self.pub.outbox.enqueue_encoded(
                self.code, payloads, user_id=self.pub.user_id, within=drop
            )
            self.report.deleted += len(stale)

    def finish(self) -> None:
        now = self.pub.clock()

        def apply(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO publish_runs VALUES (?, ?, ?)",
                (self.code, self.run_id, now),
            )

        self.pub.state.run_state_only(apply)
