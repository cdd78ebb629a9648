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
  reject rate over the threshold stops the run with :class:`PublishAbortedError`;
- **parallel** when asked (``partitions=N``, ``publish --workers N``): a dataset that can read
  key ranges is published by ``N`` worker processes, one range each (:mod:`.workers`).

The run itself — read, validate, queue — is :class:`~.run.Run`.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._connector import Service
from .._exceptions import ConfigurationError
from ..catalog.model import UpdateCycle
from ..exchange.outbox.store import Outbox
from .lock import run_lock
from .partitions import check_partitions, fold_ranges, plan_ranges, unsplittable
from .rejects import Reject
from .run import PublishReport, Run
from .state import PublishState

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
        partitions: int = 1,
    ) -> PublishReport:
        """Publish one dataset; ``on_batch`` sees the report after each queued batch.

        ``partitions=N`` (N > 1) cuts the dataset into N key ranges with its ``split=`` method
        and publishes them in N worker processes at once, each range with its own bookmark; a
        dataset that cannot be cut is published in one process, and ``report.note`` says why.
        A second publication of the dataset while one runs (any number of workers, any
        process) is refused with a :class:`GovConnectError` naming it (:mod:`.lock`).
        """
        parts = check_partitions(partitions)
        svc = target if isinstance(target, Service) else self.resolve(target)
        if svc.kind != "dataset":
            raise ConfigurationError(f"{svc.qualified_name} is a query service, not a dataset")
        with run_lock(self.outbox, svc.code):  # one publication of a dataset at a time
            note = unsplittable(svc) if parts > 1 else None
            if parts > 1 and note is None and "fork" not in multiprocessing.get_all_start_methods():
                note = "parallel publishing forks its workers, and this system cannot fork()"
            if parts > 1 and note is None:
                ranges = plan_ranges(self.registry, self.state, svc, parts, settings)
                if ranges:
                    from .workers import publish_ranges  # forks: loaded only when asked

                    return publish_ranges(
                        self,
                        svc,
                        ranges,
                        full=full,
                        since=since,
                        settings=settings,
                        on_batch=on_batch,
                    )
                note = f"{svc.code}: too few records to cut into key ranges"
            fold_ranges(self.state, svc)
            with self.registry.connector(svc.connector.name, settings) as connector:
                report = Run(self, svc, connector, full=full, since=since, on_batch=on_batch).go()
            report.note = None if note is None else f"{note}; published by one worker"
            return report

    def close(self) -> None:
        self.state.close()
