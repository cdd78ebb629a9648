"""Dataset publishing: keep the platform's copy of a catalogued dataset current, cheaply.

Sharing through the platform (库表/接口 exchange) means a department's datasets live there too and
follow "dynamic update" at the cycle the catalog promises. The publisher reads a dataset service,
validates every record against its model, and hands batches to the durable outbox:

- **incremental by default**: datasets with a replication key (``updated_at``, a growing id) resume
  after a bookmark (minus an optional ``lookback`` window, for rows a legacy transaction committed
  late); the bookmark moves in the same transaction that commits the batch to the outbox,
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
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import TypeAdapter, ValidationError

from .._connector import Connector, Service, connector_faults
from .._exceptions import ConfigurationError, Problem, PublishAbortedError
from .._validation import problems_from_pydantic
from ..catalog.model import UpdateCycle
from ..exchange.outbox.portable import (
    execute,
    executemany,
    in_values,
    insert_rows,
    is_sqlite,
)
from ..exchange.outbox.store import Outbox
from .rejects import Reject, RejectMemory, RejectsFile
from .state import FINGERPRINTS_ON_CONFLICT, PublishState, SeenKeys, _set_bookmark

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
    duplicates: int = 0
    still_rejected: int = 0
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
        self.state = PublishState(outbox)
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
        self.rejects = RejectsFile(pub.rejects_dir, self.code)
        self.known_size = pub.state.size(self.code)
        self.memory = RejectMemory(self.code, pub.state.remembered_rejects(self.code))
        self.seen = SeenKeys()
        self.rejected_keys: list[str] = []

    # the pieces ---------------------------------------------------------------------------------------

    def source(self) -> Iterable[Any]:
        svc = self.svc
        if not svc.takes_params:
            return svc.function(self.connector)
        fields = svc.params_model.model_fields
        since = _looked_back(self.bookmark, self.pub.lookback)
        values = {"since": since} if "since" in fields and since is not None else {}
        return svc.function(self.connector, svc.params_model.model_validate(values))

    def validate(self, chunk: list[Any]) -> tuple[list[Any], list[Reject]]:
        """Validate a whole batch in one call; only a dirty batch is re-checked record by record.

        A record rejected by an earlier run and unchanged since (same key, same source
        fingerprint) is not judged again: it is counted as ``still_rejected``, not written to the
        rejects file again and not counted against the threshold. A changed one is judged anew.
        """
        model = self.svc.record_model
        raw = [r.model_dump() if isinstance(r, model) else r for r in chunk]
        try:
            return self.many.validate_python(raw), []
        except ValidationError:
            pass
        good, rejects = [], []
        key = self.svc.key or ""
        for record in raw:
            try:
                good.append(self.item.validate_python(record))
            except ValidationError as exc:
                rkey = record.get(key) if isinstance(record, Mapping) else None
                if rkey is not None:
                    self.rejected_keys.append(str(rkey))
                    if self.memory.unchanged(str(rkey), record):
                        self.report.still_rejected += 1
                        continue
                self.report.rejected += 1
                rejects.extend(
                    Reject(rkey, p.field, p.rule, p.message) for p in problems_from_pydantic(exc)
                )
        return good, rejects

    def unique(self, records: list[Any], keys: list[str]) -> tuple[list[Any], list[str]]:
        """Drop every record whose key this publication already read (rule ``key.unique``):
        the platform upserts by key, so a second row with the same key would silently replace
        the first. The first occurrence is published; the others go to the rejects file."""
        repeated = self.seen.add_all(keys)
        if not repeated:
            return records, keys
        key_name = self.svc.key or ""
        self.write_rejects(
            [
                Reject(
                    keys[i],
                    key_name,
                    "key.unique",
                    f"another record with this {key_name} was read earlier in this publication; "
                    "only the first is published",
                )
                for i in repeated
            ]
        )
        self.report.duplicates += len(repeated)
        self.report.rejected += len(repeated)
        drop = set(repeated)
        kept = [i for i in range(len(records)) if i not in drop]
        return [records[i] for i in kept], [keys[i] for i in kept]

    def write_rejects(self, rejects: list[Reject]) -> None:
        self.rejects.write(rejects)
        self.report.rejects_file = str(self.rejects.path)

    def check_threshold(self, last: bool) -> None:
        """Stop a broken export, without letting a few bad rows block a small run forever.

        Records judged in this run (read minus those still rejected from an earlier run) are
        the base once there are ``min_sample`` of them; a smaller run (the end of a small
        incremental read) is judged against the dataset's known size when that is larger, so
        3 bad rows among the newest of a 500-row table are 0.6 %, not 100 %.
        """
        r = self.report
        judged = r.read - r.still_rejected
        if judged <= 0 or (judged < self.pub.min_sample and not last):
            return
        base = judged if judged >= self.pub.min_sample else max(judged, self.known_size)
        rate = r.rejected / base
        if rate > self.pub.reject_threshold:
            raise PublishAbortedError(
                [
                    Problem(
                        self.code,
                        "reject_threshold",
                        f"{r.rejected} of {judged} records read failed validation "
                        f"({rate:.1%} of {base}{' known in the dataset' if base > judged else ''}), "
                        f"over the threshold of {self.pub.reject_threshold:.1%}; "
                        f"see {r.rejects_file}",
                    )
                ],
                summary=f"publishing {self.code} stopped",
            )

    # the run ------------------------------------------------------------------------------------------

    def go(self) -> PublishReport:
        started = time.perf_counter()
        try:
            guard = functools.partial(connector_faults, self.svc.connector.name, self.svc.name)
            key_name = self.svc.key or ""
            for chunk, last in _batched(self.source, self.pub.batch_size, guard):
                self.rejected_keys = []
                records, rejects = self.validate(chunk)
                self.report.read += len(chunk)
                if rejects:
                    self.write_rejects(rejects)
                newest = records[-1] if records else None  # duplicates move the bookmark too
                keys = [str(getattr(r, key_name)) for r in records]
                records, keys = self.unique(records, keys)
                self.check_threshold(last)
                self.queue(records, keys, newest)
                self.report.batches += 1
                if self.on_batch is not None:
                    self.on_batch(self.report)
            if self.fingerprinting:
                self.tombstones()
            self.finish()
        finally:
            self.rejects.close()
            self.report.seconds = time.perf_counter() - started
        return self.report

    def queue(self, records: list[Any], keys: list[str], newest: Any = None) -> None:
        """Encode a batch, drop unchanged records, and commit records and state together.

        A rejected record still exists at the source: its last published version stands on the
        platform, so its fingerprint is kept as seen in this run (no tombstone for a dirty row).
        New rejects are remembered, and fixed ones forgotten, in the same transaction.
        """
        svc, dump = self.svc, self.item.dump_json
        rejected_keys = sorted(set(self.rejected_keys))
        bodies = [dump(r) for r in records]
        state_updates: list[Callable[[Any], None]] = []
        state_updates.extend(self.memory.updates(keys))
        selected = range(len(records))
        if self.fingerprinting:
            fps = [hashlib.blake2b(b, digest_size=16).digest() for b in bodies]
            known = {} if self.full else self.pub.state.fingerprints(self.code, keys)
            selected = [i for i in selected if known.get(keys[i]) != fps[i]]
            self.report.unchanged += len(records) - len(selected)
            rows = [(self.code, k, fp, self.run_id) for k, fp in zip(keys, fps, strict=True)]
            seen = [(self.run_id, self.code, k) for k in rejected_keys]
            state_updates.append(
                lambda conn: insert_rows(
                    conn, "INSERT INTO publish_fingerprints", rows, FINGERPRINTS_ON_CONFLICT
                )
            )
            state_updates.append(
                lambda conn: executemany(
                    conn,
                    "UPDATE publish_fingerprints SET run = ? WHERE resource = ? AND key = ?",
                    seen,
                )
            )
        elif newest is not None:
            value = self.item.dump_python(newest, mode="json")[svc.replication_key]
            self.report.bookmark_after = value
            state_updates.append(_set_bookmark(self.code, value))
        payloads = [
            b'{"id":%b,"op":"upsert","data":%b}' % (orjson.dumps(keys[i]), bodies[i])
            for i in selected
        ]

        def within(conn: Any) -> None:
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

            def drop(conn: Any, stale: list[str] = stale) -> None:
                condition, params = in_values(is_sqlite(conn), "key", stale)
                sql = f"DELETE FROM publish_fingerprints WHERE resource = ? AND {condition}"
                execute(conn, sql, (self.code, *params))

            self.pub.outbox.enqueue_encoded(
                self.code, payloads, user_id=self.pub.user_id, within=drop
            )
            self.report.deleted += len(stale)

    def finish(self) -> None:
        now = self.pub.clock()
        r = self.report
        size = r.read if self.fingerprinting or self.full else self.known_size + r.published

        def apply(conn: Any) -> None:
            execute(
                conn,
                "INSERT INTO publish_runs VALUES (?, ?, ?) ON CONFLICT (resource)"
                " DO UPDATE SET run = excluded.run, finished_at = excluded.finished_at",
                (self.code, self.run_id, now),
            )
            execute(
                conn,
                "INSERT INTO publish_sizes VALUES (?, ?) ON CONFLICT (resource)"
                " DO UPDATE SET records = excluded.records",
                (self.code, size),
            )

        self.pub.state.run_state_only(apply)
