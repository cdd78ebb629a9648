"""One publication of one dataset, or of one key range of it: read, validate, queue.

Kept apart from :class:`~.publisher.Publisher` (which chooses datasets and holds the settings)
so that the same run serves one process and each worker of a partitioned publication
(:mod:`.workers`): with a :class:`~.partitions.KeyRange`, the read is limited to the range, its
bookmark is the range's own, and the tombstones and the run's record are left to the
coordinator, which sees every range.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import TypeAdapter, ValidationError

from .._connector import Connector, Service, connector_faults
from .._exceptions import Problem, PublishAbortedError
from .._validation import problems_from_pydantic
from ..exchange.outbox.portable import execute, executemany, in_values, is_sqlite
from .partitions import KeyOutsideRangeError, KeyRange, set_range_bookmark
from .rejects import Reject, RejectMemory, RejectsFile
from .state import SeenKeys, _set_bookmark, upsert_fingerprints

if TYPE_CHECKING:
    from .publisher import Publisher

__all__ = ["PublishReport", "Run", "queue_tombstones", "record_run"]


@dataclass
class PublishReport:
    """What one publication did. A partitioned one (``partitions`` > 1) adds up its ranges and
    lists each in ``ranges``; ``note`` says why a publication asked to run in several ranges ran
    in one."""

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
    partitions: int = 1
    ranges: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None

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


class Run:
    """One publication of one dataset, or of one key range of it (``scope``, with the run id
    its coordinator chose)."""

    def __init__(
        self,
        pub: Publisher,
        svc: Service,
        connector: Connector,
        *,
        full: bool,
        since: Any,
        on_batch: Callable[[PublishReport], None] | None,
        scope: KeyRange | None = None,
        run_id: int | None = None,
    ) -> None:
        self.pub, self.svc, self.connector, self.on_batch = pub, svc, connector, on_batch
        self.scope = scope
        self.code = svc.code
        self.fingerprinting = svc.replication_key is None
        mode = "full" if full else ("fingerprint" if self.fingerprinting else "incremental")
        self.report = PublishReport(self.code, mode)
        self.full = full
        stored = scope.bookmark if scope is not None else pub.state.bookmark(self.code)
        self.bookmark = None if full else (since if since is not None else stored)
        self.report.bookmark_before = self.bookmark
        self.run_id = run_id if run_id is not None else pub.state.last_run(self.code)[0] + 1
        self.item = TypeAdapter(svc.record_model)
        self.many = TypeAdapter(list[svc.record_model])  # type: ignore[name-defined]
        part = f"-part{scope.index + 1}of{scope.count}" if scope is not None else ""
        self.rejects = RejectsFile(pub.rejects_dir, self.code, part)
        # a range is judged against its share of the dataset's known size
        self.known_size = pub.state.size(self.code) // (scope.count if scope else 1)
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
        if self.scope is not None:
            values.update(self.scope.params())
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

    def check_scope(self, records: list[Any], key_name: str) -> None:
        """Fail the range if the source returned a key outside it, before anything of the batch
        is queued: the range then counts as failed, so neither its bookmark nor the tombstones
        move. Tombstones of a partly failed run are limited to the finished ranges' keys *as
        Python orders them*; a source collating keys otherwise (case-insensitive text), or a
        dataset not filtering on ``key_from``/``key_to``, would have them delete live records."""
        assert self.scope is not None
        stray = self.scope.stray([getattr(r, key_name) for r in records])
        if stray is None:
            return
        kind = self.svc.record_model.model_fields[key_name].annotation
        kind_name = getattr(kind, "__name__", str(kind))
        raise KeyOutsideRangeError(
            f"{self.svc.qualified_name} returned {key_name} {stray!r}, outside key range"
            f" {self.scope.label} {self.scope.shown} of {self.code}: the dataset must read only"
            f" key_from <= {key_name} < key_to, and its {kind_name} keys must sort in the"
            ' database as Python sorts them — a binary collation (e.g. COLLATE "C").'
            " Nothing of this batch was queued, the range's bookmark did not move, and no record is"
            " deleted by this run"
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
                if self.scope is not None:
                    self.check_scope(records, key_name)
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
            if self.scope is None:  # a range leaves both to its coordinator
                if self.fingerprinting:
                    self.report.deleted = queue_tombstones(self.pub, self.code, self.run_id)
                record_run(self.pub, self.code, self.run_id, self.report, self.known_size)
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
            state_updates.append(lambda conn: upsert_fingerprints(conn, rows))
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
            state_updates.append(
                _set_bookmark(self.code, value)
                if self.scope is None
                else set_range_bookmark(self.code, self.scope, value)
            )
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


def queue_tombstones(
    pub: Publisher, code: str, run_id: int, belongs: Callable[[str], bool] | None = None
) -> int:
    """Records the source no longer has (fingerprints not seen in ``run_id``): one ``delete``
    each, fingerprints dropped with them; returns how many. ``belongs`` limits them to the keys
    of some key ranges (the ranges of a partitioned run that finished), so a range that failed
    never has its unread keys deleted. Keys are walked in order, each page after the last."""
    deleted, after = 0, None
    while True:
        stale = pub.state.stale_keys(code, run_id, min(pub.batch_size, 900), after=after)
        if not stale:
            return deleted
        after = stale[-1]
        gone = [k for k in stale if belongs is None or belongs(k)]
        if not gone:
            continue
        payloads = [b'{"id":%b,"op":"delete"}' % orjson.dumps(k) for k in gone]

        def drop(conn: Any, gone: list[str] = gone) -> None:
            condition, params = in_values(is_sqlite(conn), "key", gone)
            sql = f"DELETE FROM publish_fingerprints WHERE resource = ? AND {condition}"
            execute(conn, sql, (code, *params))

        pub.outbox.enqueue_encoded(code, payloads, user_id=pub.user_id, within=drop)
        deleted += len(gone)


def record_run(
    pub: Publisher, code: str, run_id: int, report: PublishReport, known_size: int
) -> None:
    """The run finished: its id and time (for ``due``), and the dataset's size as now known."""
    now = pub.clock()
    replaced = report.mode in ("fingerprint", "full")
    size = report.read if replaced else known_size + report.published

    def apply(conn: Any) -> None:
        execute(
            conn,
            "INSERT INTO publish_runs VALUES (?, ?, ?) ON CONFLICT (resource)"
            " DO UPDATE SET run = excluded.run, finished_at = excluded.finished_at",
            (code, run_id, now),
        )
        execute(
            conn,
            "INSERT INTO publish_sizes VALUES (?, ?) ON CONFLICT (resource)"
            " DO UPDATE SET records = excluded.records",
            (code, size),
        )

    pub.state.run_state_only(apply)
