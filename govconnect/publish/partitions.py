"""Key ranges for parallel publishing: how a dataset is cut, and each range's bookmark.

A dataset declared with ``split=`` (a connector method returning ascending key values, e.g. the
key's quantiles from one ``ntile``/``OFFSET`` query) and params fields ``key_from`` / ``key_to``
can be read as ``N`` half-open key ranges ``[key_from, key_to)`` in ``N`` worker processes. Range
partitioning rather than hashing because only the source can filter cheaply, and a key range is
what every SQL source filters on its primary-key index; a hash of the key would make every worker
read (and the database scan) the whole table.

The plan (bounds, and per range the bookmark where its incremental read resumes) is kept in
``publish_ranges``, beside the outbox like the rest of the publishing state; each range's bookmark
moves in the transaction that queues that range's batch. A rerun with the same ``N`` reuses the
stored bounds (no new split), so every range resumes where it stopped. A rerun with another ``N``
(or after one-worker runs) cuts anew and starts every new range at the **oldest** bookmark of the
old plan — nothing is skipped; rows between the oldest and a range's own old bookmark are read
again and travel as upserts. Going back to one worker folds the ranges into the dataset's single
bookmark the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from .._connector import KEY_RANGE_PARAMS, Service, connector_faults
from .._exceptions import ConfigurationError, KeyOutsideRangeError, PublishRunningError
from ..exchange.outbox.portable import execute, executemany
from .state import PublishState, _set_bookmark

if TYPE_CHECKING:
    from .._registry import Registry

__all__ = [
    "MAX_PARTITIONS",
    "KeyOutsideRangeError",
    "KeyRange",
    "check_partitions",
    "fold_ranges",
    "plan_ranges",
    "unsplittable",
]

MAX_PARTITIONS = 64
"""The most key ranges (worker processes) one publication is cut into."""


def check_partitions(partitions: object, name: str = "partitions") -> int:
    """``partitions`` as a count of key ranges, or a :class:`ConfigurationError` naming ``name``."""
    if (
        not isinstance(partitions, int)
        or isinstance(partitions, bool)
        or not 1 <= partitions <= MAX_PARTITIONS
    ):
        raise ConfigurationError(
            f"{name} must be a whole number from 1 to {MAX_PARTITIONS}, not {partitions!r}"
        )
    return partitions


@dataclass(frozen=True)
class KeyRange:
    """One range ``lower <= key < upper`` of a partitioned publication (``None``: unbounded)."""

    index: int
    count: int
    lower: Any = None
    upper: Any = None
    bookmark: Any = None
    key_type: TypeAdapter[Any] | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.index + 1} of {self.count}"

    @property
    def shown(self) -> str:
        low = "…" if self.lower is None else str(self.lower)
        high = "…" if self.upper is None else str(self.upper)
        return f"[{low}, {high})"

    def params(self) -> dict[str, Any]:
        """What the dataset's ``key_from`` / ``key_to`` params receive."""
        return dict(zip(KEY_RANGE_PARAMS, (self.lower, self.upper), strict=True))

    def holds(self, key: str) -> bool:
        """Whether a key as publishing stores it (text) falls into this range, compared as the
        key's type (an integer key as a number, not as text). A key that does not parse as that
        type belongs to no range: it is never deleted by a partial run."""
        try:
            value = self.key_type.validate_python(key) if self.key_type else key
        except ValidationError:
            return False
        return self.stray([value]) is None

    def stray(self, values: Sequence[Any]) -> Any:
        """The first of these key values (as the key's type) outside this range, compared as
        Python orders them, or ``None``: a worker checks every key its range read, because
        tombstones of a partly failed run trust this order to tell whose keys are whose."""
        lower, upper = self.lower, self.upper
        for value in values:
            try:
                if (lower is not None and value < lower) or (upper is not None and value >= upper):
                    return value
            except TypeError:
                return value
        return None


def _adapter(svc: Service, name: str | None) -> TypeAdapter[Any]:
    info = svc.record_model.model_fields[name or ""]
    return TypeAdapter(info.annotation)


def unsplittable(svc: Service) -> str | None:
    """Why this dataset cannot be read by key range (``None``: it can)."""
    if svc.split is None:
        return (
            f"{svc.qualified_name} declares no split= method to cut its keys into ranges"
            " (docs/publishing.md, parallel publishing)"
        )
    return None


def _stored(state: PublishState, code: str) -> list[tuple[str | None, str | None, str | None]]:
    return [
        (lo, hi, bm)
        for lo, hi, bm in state.outbox.read(
            "SELECT lower, upper, bookmark FROM publish_ranges WHERE resource = ? ORDER BY part",
            (code,),
        )
    ]


def _encode(value: Any, adapter: TypeAdapter[Any]) -> str | None:
    return None if value is None else json.dumps(adapter.dump_python(value, mode="json"))


def _decode(text: str | None, adapter: TypeAdapter[Any]) -> Any:
    return None if text is None else adapter.validate_python(json.loads(text))


def _oldest(svc: Service, bookmarks: Sequence[str | None]) -> str | None:
    """The bookmark every old range has passed (JSON), or ``None`` when one range has none: a
    new range may start there and miss nothing."""
    if not bookmarks or any(b is None for b in bookmarks) or svc.replication_key is None:
        return None
    adapter = _adapter(svc, svc.replication_key)
    decoded = [(adapter.validate_python(json.loads(str(b))), b) for b in bookmarks]
    return min(decoded, key=lambda pair: pair[0])[1]


def _split(registry: Registry, svc: Service, parts: int, settings: Any) -> list[Any]:
    """Ascending, distinct range boundaries from the connector's ``split`` method."""
    adapter = _adapter(svc, svc.key)
    where = f"{svc.connector.name}.{svc.split}"
    with (
        registry.connector(svc.connector.name, settings) as conn,
        connector_faults(svc.connector.name, svc.split or "split"),
    ):
        given = list(getattr(conn, svc.split or "")(parts))
    try:
        values = {adapter.validate_python(v) for v in given if v is not None}
        return sorted(values)[: parts - 1]
    except ValidationError as exc:
        raise ConfigurationError(
            f"{where} returned a value that is not a {svc.key} key: {exc.errors()[0]['msg']}"
        ) from None
    except TypeError as exc:
        raise ConfigurationError(f"{where} returned keys that cannot be ordered: {exc}") from None


def plan_ranges(
    registry: Registry, state: PublishState, svc: Service, parts: int, settings: Any = None
) -> list[KeyRange]:
    """The key ranges of this run, with the bookmark each starts from; stored before returning.

    The stored plan is reused when it has ``parts`` ranges; else the connector's ``split`` cuts
    anew and the new plan replaces the old one (and the single bookmark) in one transaction,
    every range starting at the oldest old bookmark. Fewer than two ranges (a table too small
    to split) returns ``[]``: publish in one process.
    """
    adapter = _adapter(svc, svc.key)
    stored = _stored(state, svc.code)
    if len(stored) == parts:
        return [
            KeyRange(i, parts, _decode(lo, adapter), _decode(hi, adapter), _bm(bm), adapter)
            for i, (lo, hi, bm) in enumerate(stored)
        ]
    cuts = _split(registry, svc, parts, settings)
    if not cuts:
        return []
    edges = [None, *cuts, None]
    count = len(edges) - 1
    old = [bm for _, _, bm in stored] if stored else [_global(state, svc.code)]
    start = _oldest(svc, old)
    rows = [
        (svc.code, i, _encode(edges[i], adapter), _encode(edges[i + 1], adapter), start)
        for i in range(count)
    ]
    if [(lo, hi) for _, _, lo, hi, _ in rows] != [(lo, hi) for lo, hi, _ in stored]:

        def replace(conn: Any) -> None:
            execute(conn, "DELETE FROM publish_ranges WHERE resource = ?", (svc.code,))
            execute(conn, "DELETE FROM publish_bookmarks WHERE resource = ?", (svc.code,))
            executemany(conn, "INSERT INTO publish_ranges VALUES (?, ?, ?, ?, ?)", rows)

        state.run_state_only(replace)
    current = _stored(state, svc.code)  # same bounds as stored: each range keeps its bookmark
    return [
        KeyRange(i, count, edges[i], edges[i + 1], _bm(current[i][2]), adapter)
        for i in range(count)
    ]


def _bm(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _global(state: PublishState, code: str) -> str | None:
    rows = state.outbox.read("SELECT value FROM publish_bookmarks WHERE resource = ?", (code,))
    return rows[0][0] if rows else None


def fold_ranges(state: PublishState, svc: Service) -> None:
    """Back to one worker: the ranges' oldest bookmark becomes the dataset's single bookmark
    (none if a range had none), and the plan is dropped, in one transaction."""
    stored = _stored(state, svc.code)
    if not stored:
        return
    start = _oldest(svc, [bm for _, _, bm in stored])
    updates: list[Callable[[Any], None]] = []
    if start is not None:
        updates.append(_set_bookmark(svc.code, json.loads(start)))

    def fold(conn: Any) -> None:
        execute(conn, "DELETE FROM publish_ranges WHERE resource = ?", (svc.code,))
        execute(conn, "DELETE FROM publish_bookmarks WHERE resource = ?", (svc.code,))
        for update in updates:
            update(conn)

    state.run_state_only(fold)


def set_range_bookmark(code: str, scope: KeyRange, value: Any) -> Callable[[Any], None]:
    """A state update moving one range's bookmark, run in the transaction of its batch.

    The range is found by its number *and bounds*: if the plan was cut anew meanwhile, this
    range's bookmark must not land on another range that merely has the same number (its keys
    between the two lower bounds would never be read: a gap). That raises instead, rolling the
    batch back; the run lock (:mod:`.lock`) keeps it from happening at all."""
    encoded = json.dumps(value, ensure_ascii=False)
    adapter = scope.key_type or TypeAdapter(Any)
    lower, upper = (_encode(bound, adapter) or "" for bound in (scope.lower, scope.upper))

    def apply(conn: Any) -> None:
        moved = execute(
            conn,
            "UPDATE publish_ranges SET bookmark = ? WHERE resource = ? AND part = ?"
            " AND COALESCE(lower, '') = ? AND COALESCE(upper, '') = ?",
            (encoded, code, scope.index, lower, upper),
        ).rowcount
        if moved != 1:
            raise PublishRunningError(
                f"the key ranges of {code} were cut anew while key range {scope.label}"
                f" {scope.shown} was being published (another publication of it ran): its"
                " bookmark was not moved and its last batch not queued; run it again"
            )

    return apply
