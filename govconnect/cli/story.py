"""The end-to-end story behind ``make demo`` / ``govconnect demo``.

A citizen applies once at the one window; the department's legacy system receives the case without
a clerk typing it again; statuses and results flow back. Everything runs on embedded defaults: the
household-registration legacy database in SQLite, the mock exchange platform on loopback with the
``flaky`` fault profile, the durable outbox (with the intake journal's tables) in a SQLite file.
Then clerks of another department look residents up at the household gateway as officers verified
by a mock authentication center (``_story_gateway``), and the register is cross-checked
(``_story_crosscheck``).
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError
from .._export import export_catalog
from .._registry import load_registry
from ..bridge.bridge import IntakeBridge
from ..bridge.report import IntakeReport
from ..exchange.client import ExchangeClient
from ..exchange.delivery.stats import DeliveryStats
from ..exchange.delivery.worker import DeliveryWorker
from ..exchange.outbox.store import Outbox
from ..exchange.retry import RetryPolicy

__all__ = ["DEMO_NODE", "run_demo"]

DEMO_NODE = "11010500000/HJGL"
"""The household system's node on the platform: department code / system code."""


def run_demo(
    workdir: Path,
    *,
    cases: int = 300,
    invalid: int = 30,
    residents: int = 5000,
    faults: str = "flaky",
    seed: int = 7,
    progress: Any = None,
) -> dict[str, Any]:
    """Run the whole story in ``workdir`` (recreated) and return the summary numbers."""
    try:
        import govconnect_household
        from govconnect_household import (
            HouseholdConnector,
            create_sample_database,
            process_applications,
            sample_cases,
        )
    except ImportError:
        raise ConfigurationError(
            "the demo needs the household plugin: pip install -e plugins/govconnect-household"
        ) from None
    from ..testing import MockPlatform
    from ._story_crosscheck import crosscheck_chapter
    from ._story_gateway import gateway_chapter

    started = time.perf_counter()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    url = f"sqlite:///{workdir / 'household.sqlite'}"
    created = create_sample_database(url, count=residents)
    # The demo is hermetic: only the plugin it sets up (other installed plugins would add their
    # resources to the numbers and poll legacy systems nobody configured), and every household
    # setting given here, so no GOVCONNECT_HOUSEHOLD_* of the user's shell changes the story.
    settings = HouseholdConnector.Settings(url=url).model_dump()
    reg = load_registry(
        plugins=[govconnect_household],
        entry_points=False,
        config={"connectors": {"household": settings}},
    )
    catalog = reg.catalog()
    problems = catalog.problems()
    exports = {}
    for fmt, suffix in (
        ("json", "json"),
        ("openapi", "openapi.json"),
        ("csv", "csv"),
        ("dcat", "dcat.jsonld"),
    ):
        path = workdir / f"catalog.{suffix}"
        path.write_text(export_catalog(fmt, catalog, reg.services()), encoding="utf-8")
        exports[fmt] = str(path)

    step = progress or (lambda message: None)
    policy = RetryPolicy(max_attempts=10, deadline=60, initial=0.02, max_wait=0.5)
    with MockPlatform(faults=faults, seed=seed) as platform:
        if faults != "none":
            platform.set_faults(faults, retry_after=0.05)  # honoured, but keep the demo brisk
        client = ExchangeClient(
            platform.url, token=platform.token, node=DEMO_NODE, user_id="clerk-demo", retry=policy
        )
        outbox = Outbox(workdir / "outbox.sqlite")
        bridge = IntakeBridge(
            reg, client, outbox, settings={"household": settings}, user_id="clerk-demo"
        )
        try:
            step("registering the catalog with the exchange platform")
            registered = client.sync_catalog(r.model_dump(mode="json") for r in catalog.resources)
            step(f"{cases} citizens apply at the one window ({invalid} applications are flawed)")
            submitted = list(sample_cases(cases, seed=seed, invalid=invalid))
            for case in submitted:
                platform.enqueue_case(case, node=DEMO_NODE)
            step("the intake bridge pulls the cases into the legacy system")
            report = bridge.run_once(limit=50)
            delivery = DeliveryWorker(outbox, client, sleep=time.sleep).drain(timeout=120)
            step("clerks work the cases in the legacy system; statuses flow back")
            clerks = process_applications(
                url,
                in_progress=report.written // 5,
                completed=report.written // 2,
                returned=max(1, report.written // 25),
            )
            polled = bridge.poll_statuses()
            delivery.merge(DeliveryWorker(outbox, client, sleep=time.sleep).drain(timeout=120))
            statuses = platform.case_statuses
            faults_seen = platform.faults_injected
            acked = platform.acknowledged_cases
        finally:
            bridge.close()
            outbox.close()
            client.close()

    step("civil-affairs clerks look residents up at the gateway as verified officers (一次登录)")
    officers = gateway_chapter(workdir, reg, settings)
    step("the household register is cross-checked against civil affairs (多源校核)")
    chapter = crosscheck_chapter(workdir, settings)
    summary = _summary(
        created=created,
        catalog_resources=len(catalog.resources),
        catalog_problems=[str(p) for p in problems],
        registered=len(registered.new) + len(registered.changed),
        submitted=submitted,
        report=report,
        clerks=clerks,
        polled=polled,
        delivery=delivery,
        statuses=statuses,
        faults=faults_seen,
        acked=acked,
        exports=exports,
        elapsed=time.perf_counter() - started,
    )
    # the chapters' numbers last: the story's own stay as they were
    return {**summary, **officers, **chapter}


def _summary(
    *,
    created: int,
    catalog_resources: int,
    catalog_problems: list[str],
    registered: int,
    submitted: list[dict[str, Any]],
    report: IntakeReport,
    clerks: dict[str, int],
    polled: int,
    delivery: DeliveryStats,
    statuses: dict[str, list[dict[str, Any]]],
    faults: dict[str, int],
    acked: set[str],
    exports: dict[str, str],
    elapsed: float,
) -> dict[str, Any]:
    returned_rules = Counter(
        p.rule for o in report.outcomes if o.outcome == "returned" for p in o.problems
    )
    final = Counter(history[-1]["status"] for history in statuses.values() if history)
    return {
        "residents_in_legacy_db": created,
        "catalog_resources": catalog_resources,
        "catalog_problems": catalog_problems,
        "catalog_registered": registered,
        "cases_submitted": len(submitted),
        "cases_written_to_legacy": report.written,
        "cases_returned_with_reasons": report.returned,
        "returned_by_rule": dict(sorted(returned_rules.items())),
        "cases_deferred": report.deferred,
        "cases_acknowledged": len(acked),
        "clerk_actions_in_legacy_system": clerks,
        "status_changes_polled": polled,
        "statuses_delivered": sum(len(h) for h in statuses.values()),
        "final_status_counts": dict(sorted(final.items())),
        "outbox_retries": delivery.retries,
        "outbox_dead_letters": delivery.dead_lettered,
        "platform_faults_survived": sum(faults.values()),
        "platform_faults_by_kind": dict(sorted(faults.items())),
        "fields_not_retyped": report.fields_filled,
        "exports": exports,
        "elapsed_seconds": round(elapsed, 2),
    }
