"""Conformance check of the exchange: a dataset travels outbox → delivery → platform, exactly once.

The dataset is published with the SDK's own :class:`~govconnect.Publisher` into an outbox in the
session's folder, delivered by a :class:`~govconnect.DeliveryWorker` to a :class:`MockPlatform` on
loopback (started once per session), and the platform is asked what it applied: every published
record, each exactly once. A second publication must send nothing, since nothing changed.
"""

from __future__ import annotations

from types import SimpleNamespace

from .._connector import Service
from .._exceptions import Problem
from .._registry import load_registry
from ..exchange.client import ExchangeClient
from ..exchange.delivery.worker import DeliveryWorker
from ..exchange.outbox.store import Outbox
from ..hookspecs import hookimpl
from ..publish.publisher import Publisher
from ._conformance import ConformanceSession, Outcome, check, failed, is_dataset, passed
from ._mock_platform import MockPlatform

__all__: list[str] = []


def _platform(session: ConformanceSession) -> MockPlatform:
    if "exchange.platform" not in session.cache:
        platform = MockPlatform(seed=0).start()
        session.on_exit(platform.stop)
        session.cache["exchange.platform"] = platform
    platform: MockPlatform = session.cache["exchange.platform"]
    return platform


@check(
    "exchange_round_trip",
    "the dataset is published through the outbox and delivered exactly once to the mock platform",
    applies=is_dataset,
    order=80,
)
def _exchange_round_trip(session: ConformanceSession, svc: Service) -> Outcome:
    instance = session.connector()
    if isinstance(instance, Outcome):
        return instance
    cls = svc.connector
    plugin = SimpleNamespace(
        __name__=f"conformance-{cls.name}", register_connectors=hookimpl(lambda: [cls])
    )
    config = {"connectors": {cls.name: session.settings or {}}}
    registry = load_registry(plugins=[plugin], entry_points=False, config=config)
    folder = session.workdir / "exchange" / svc.name
    folder.mkdir(parents=True, exist_ok=True)
    platform = _platform(session)
    node = f"{cls.department.code}/{cls.system.code}"
    with (
        Outbox(folder / "outbox.sqlite") as outbox,
        ExchangeClient(
            platform.url, token=platform.token_for(node), node=node, user_id="conformance"
        ) as client,
    ):
        publisher = Publisher(
            registry, outbox, rejects_dir=folder / "rejects", user_id="conformance"
        )
        try:
            report = publisher.publish(svc)
            if report.rejected:
                return failed(
                    Problem(
                        svc.qualified_name,
                        "exchange.rejected",
                        f"{report.rejected} sample record(s) rejected (see {report.rejects_file})",
                    )
                )
            client.sync_catalog(s.resource.model_dump(mode="json") for s in cls.services().values())
            stats = DeliveryWorker(outbox, client, sleep=lambda seconds: None).drain(timeout=60)
            again = publisher.publish(svc)
        finally:
            publisher.close()
    problems = []
    if stats.dead_lettered:
        problems.append(
            Problem(svc.qualified_name, "exchange.dead_letter", f"dead letters: {stats.errors}")
        )
    latest = platform.latest(svc.code)
    if len(latest) != report.published:
        problems.append(
            Problem(
                svc.qualified_name,
                "exchange.delivered",
                f"published {report.published} record(s), the platform holds {len(latest)}",
            )
        )
    twice = [rid for rid in latest if platform.applications(svc.code, rid) != 1]
    if twice:
        problems.append(
            Problem(svc.qualified_name, "exchange.exactly_once", f"applied twice: {twice[:5]}")
        )
    if again.published:
        problems.append(
            Problem(
                svc.qualified_name,
                "exchange.unchanged_resent",
                f"a second publication re-sent {again.published} unchanged record(s)",
            )
        )
    if problems:
        return failed(*problems)
    return passed(f"{report.published} record(s) delivered exactly once")
