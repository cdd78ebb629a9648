"""``govconnect publish``: push catalogued datasets to the exchange platform through the outbox."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from .._config import mask_url_passwords
from .._connector import connector_faults
from .._exceptions import ConfigurationError, GovConnectError
from ..catalog.model import refuse_drafts
from ..exchange.client import ExchangeClient
from ..exchange.delivery.stats import DeliveryStats
from ..exchange.delivery.worker import DeliveryWorker
from ..exchange.outbox.store import Outbox
from ..publish.partitions import MAX_PARTITIONS
from ..publish.publisher import Publisher, PublishReport, datasets, resolve_dataset
from ._common import (
    console,
    err_console,
    handles_errors,
    key_column,
    note_not_configured,
    print_json,
    registry,
    report_error,
)


def register(root: typer.Typer) -> None:
    root.command("publish")(publish)


@handles_errors
def publish(
    ctx: typer.Context,
    resource_code: str | None = typer.Argument(None, help="Resource code of the dataset."),
    all_due: bool = typer.Option(False, "--all", help="Every dataset due by its update cycle."),
    full: bool = typer.Option(False, "--full", help="Republish everything, not just changes."),
    since: str | None = typer.Option(None, "--since", help="Start after this replication key."),
    connector: str | None = typer.Option(None, "--connector", help="Only this connector."),
    outbox_path: str = typer.Option(
        ".govconnect/outbox.sqlite",
        "--outbox",
        envvar="GOVCONNECT_OUTBOX",
        help="The outbox (and publishing state): a SQLite file, or a PostgreSQL URL.",
    ),
    rejects_dir: Path = typer.Option(Path(".govconnect/rejects"), "--rejects-dir"),
    threshold: float = typer.Option(0.05, "--threshold", min=0, max=1, help="Highest reject rate."),
    batch_size: int = typer.Option(2000, "--batch-size", min=1, max=50_000),
    lookback: float = typer.Option(
        0.0, "--lookback", min=0, help="Re-read this far behind the bookmark (seconds or ids)."
    ),
    deliver: bool = typer.Option(
        False,
        "--deliver",
        help="Deliver to the platform while publishing, and wait for the last batch.",
    ),
    url: str | None = typer.Option(None, "--url", envvar="GOVCONNECT_PLATFORM_URL"),
    token: str | None = typer.Option(None, "--token", envvar="GOVCONNECT_PLATFORM_TOKEN"),
    node: str | None = typer.Option(None, "--node", envvar="GOVCONNECT_NODE"),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=MAX_PARTITIONS,
        help="Publish each dataset in this many key ranges at once, one process each.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    allow_drafts: bool = typer.Option(
        False, "--allow-drafts", help="Register drafted catalog values anyway (tests only)."
    ),
) -> None:
    """Validate a dataset's records and queue the changed ones for the platform."""
    if (resource_code is None) == (not all_due):
        raise typer.BadParameter("give a RESOURCE_CODE or --all (not both)")
    if deliver and not (url and token and node):
        raise typer.BadParameter("--deliver needs --url, --token and --node (or their env vars)")
    reg = registry(ctx)
    if deliver and not allow_drafts:
        refuse_drafts(reg.node_catalog(node).resources)  # before anything is read, queued or sent
    reports: list[PublishReport] = []
    failures: dict[str, str] = {}
    # Which connectors may run is settled before anything is opened: an installed connector
    # nobody configured is named and skipped (or refused when asked for by resource code), and
    # no file (outbox, or the SQLite database its defaults point at) is created for it.
    if all_due:
        candidates = datasets(reg, connector)
    else:
        chosen = resolve_dataset(reg, resource_code or "", connector)
        reg.require_configured(chosen.connector.name)
        candidates = [chosen]
    skipped = {
        name: "installed but not configured"
        for name in sorted({s.connector.name for s in candidates})
        if not reg.is_configured(name)
    }
    for name in skipped:
        note_not_configured(name)
    if deliver and node:
        # only this node's resources are registered, so only its datasets can be delivered
        owned = {r.code for r in reg.node_catalog(node).resources}
        for svc in candidates:
            if svc.code not in owned and svc.connector.name not in skipped:
                if not all_due:
                    raise ConfigurationError(
                        f"{svc.code} belongs to node {svc.connector.department.code}/"
                        f"{svc.connector.system.code}, not to {node}: publish it with that --node"
                    )
                skipped[svc.connector.name] = f"not a connector of node {node}"
                err_console.print(f"skipped {svc.connector.name}: not a connector of node {node}")
    if not any(s.connector.name not in skipped for s in candidates):
        if as_json:
            print_json(
                {"datasets": [], "failed": 0, "failures": {}, "delivery": {}, "skipped": skipped}
            )
        else:
            console.print("nothing to publish: no configured connector has a dataset")
        return
    with Outbox(outbox_path) as outbox, ExitStack() as stack:
        publisher = Publisher(
            reg,
            outbox,
            batch_size=batch_size,
            reject_threshold=threshold,
            rejects_dir=rejects_dir,
            lookback=lookback,
        )
        stack.callback(publisher.close)
        delivery: DeliveryStats | None = None
        if deliver:
            # Delivery runs while the datasets are read: the first batches reach the platform
            # while later ones are still being validated, and leaving waits for the last.
            assert url and token and node
            client = stack.enter_context(
                ExchangeClient(url, token=token, node=node, user_id="govconnect-publish")
            )
            client.sync_catalog(r.model_dump(mode="json") for r in reg.node_catalog(node).resources)
            delivery = stack.enter_context(DeliveryWorker(outbox, client).delivering())
        targets = (
            [s for s in publisher.due(connector) if s.connector.name not in skipped]
            if all_due
            else candidates
        )
        for svc in targets:
            try:
                reports.append(
                    _publish_one(
                        publisher, svc, full=full, since=since, quiet=as_json, workers=workers
                    )
                )
            except GovConnectError as exc:  # one broken dataset does not stop the others
                failures[svc.code] = mask_url_passwords(str(exc))
                if not as_json:
                    report_error(exc, f"{svc.code} failed")
    delivered: dict[str, Any] = {}
    if delivery is not None:
        delivered = {
            "records_delivered": delivery.records_delivered,
            "dead": delivery.dead_lettered,
        }
    if as_json:
        print_json(
            {
                "datasets": [r.as_dict() for r in reports],
                "failed": len(failures),  # a count, as in `check --json` (docs/cli.md)
                "failures": failures,
                "delivery": delivered,
                "skipped": skipped,
            }
        )
        raise typer.Exit(1 if failures else 0)
    if not reports:
        if not failures:
            console.print("nothing is due")
        raise typer.Exit(1 if failures else 0)
    table = Table(title="Published")
    key_column(table, "resource", [r.resource_code for r in reports])
    for col in ("mode", "read", "queued", "unchanged", "deleted", "rejected", "rows/s"):
        table.add_column(col, justify="left" if col == "mode" else "right", overflow="fold")
    for r in reports:
        table.add_row(
            r.resource_code,
            r.mode,
            str(r.read),
            str(r.published),
            str(r.unchanged),
            str(r.deleted),
            str(r.rejected),
            f"{r.rows_per_second:,.0f}",
        )
    console.print(table)
    for r in reports:
        if r.partitions > 1:
            console.print(
                f"{r.resource_code}: published by {r.partitions} workers, one key range each"
            )
        if r.rejected:
            dups = f", {r.duplicates} duplicate key(s) [key.unique]" if r.duplicates else ""
            console.print(
                f"rejects of {r.resource_code}: {r.rejected} new{escape(dups)} in {r.rejects_file}"
            )
        if r.still_rejected:
            console.print(
                f"{r.resource_code}: {r.still_rejected} still rejected (unchanged since an "
                "earlier run, not judged again)"
            )
    if delivered:
        console.print(
            f"delivered {delivered['records_delivered']} records, {delivered['dead']} dead letters"
        )
    if failures:
        raise typer.Exit(1)


_REDRAW_SECONDS = 0.1
"""How often, at most, the progress bar of a run with several workers is redrawn."""


def _publish_one(
    publisher: Publisher, svc: Any, *, full: bool, since: str | None, quiet: bool, workers: int
) -> PublishReport:
    total = None
    if svc.count is not None:
        with (
            publisher.registry.connector(svc.connector.name) as conn,
            connector_faults(svc.connector.name, svc.count),
        ):
            total = getattr(conn, svc.count)()
    with Progress(
        TextColumn(f"[bold]{svc.code}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s, {task.fields[rejects]} rejects"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=True,
        # Workers are forked while the bar is shown: a refresh thread running at fork() may
        # hold a lock (the console's, stdout's) that the child inherits held forever. With
        # several workers the bar has no thread and is redrawn as their reports arrive.
        auto_refresh=workers == 1,
    ) as progress:
        task = progress.add_task(svc.code, total=total, rate="0", rejects=0)
        drawn = [0.0]

        def show(report: PublishReport) -> None:
            now = time.monotonic()
            redraw = workers > 1 and now - drawn[0] >= _REDRAW_SECONDS
            if redraw:
                drawn[0] = now
            progress.update(
                task,
                completed=report.read,
                rate=f"{report.read / max(progress.tasks[0].elapsed or 1e-9, 1e-9):,.0f}",
                rejects=report.rejected,
                refresh=redraw,
            )

        report = publisher.publish(svc, full=full, since=since, on_batch=show, partitions=workers)
    if report.note and not quiet:
        err_console.print(escape(report.note))
    return report
