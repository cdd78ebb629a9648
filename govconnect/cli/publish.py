"""``govconnect publish``: push catalogued datasets to the exchange platform through the outbox."""

from __future__ import annotations

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

from .._exceptions import GovConnectError
from ..exchange.client import ExchangeClient
from ..exchange.delivery.stats import DeliveryStats
from ..exchange.delivery.worker import DeliveryWorker
from ..exchange.outbox.store import Outbox
from ..publish.publisher import Publisher, PublishReport
from ._common import console, err_console, handles_errors, print_json, registry
from .outbox import require_file_outbox


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
        help="Outbox file (a PostgreSQL outbox is for `govconnect outbox` commands for now).",
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
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Validate a dataset's records and queue the changed ones for the platform."""
    if (resource_code is None) == (not all_due):
        raise typer.BadParameter("give a RESOURCE_CODE or --all (not both)")
    if deliver and not (url and token and node):
        raise typer.BadParameter("--deliver needs --url, --token and --node (or their env vars)")
    require_file_outbox(outbox_path, "the publishing state")
    reg = registry(ctx)
    reports: list[PublishReport] = []
    failures: dict[str, str] = {}
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
            client.sync_catalog(r.model_dump(mode="json") for r in reg.catalog().resources)
            delivery = stack.enter_context(DeliveryWorker(outbox, client).delivering())
        targets = (
            publisher.due(connector)
            if all_due
            else [publisher.resolve(resource_code or "", connector)]
        )
        for svc in targets:
            try:
                reports.append(_publish_one(publisher, svc, full=full, since=since, quiet=as_json))
            except GovConnectError as exc:  # one broken dataset does not stop the others
                failures[svc.code] = str(exc)
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
                "failed": failures,
                "delivery": delivered,
            }
        )
        raise typer.Exit(1 if failures else 0)
    table = Table(title="Published")
    for col in ("resource", "mode", "read", "queued", "unchanged", "deleted", "rejected", "rows/s"):
        table.add_column(
            col,
            justify="left" if col in ("resource", "mode") else "right",
            no_wrap=col == "resource",
        )
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
        if r.rejects_file:
            console.print(f"rejects of {r.resource_code}: {r.rejects_file}")
    if delivered:
        console.print(
            f"delivered {delivered['records_delivered']} records, {delivered['dead']} dead letters"
        )
    for code, reason in failures.items():
        err_console.print(f"[bold red]{code} failed:[/] {escape(reason)}")
    if not reports and not failures:
        console.print("nothing is due")
    if failures:
        raise typer.Exit(1)


def _publish_one(
    publisher: Publisher, svc: Any, *, full: bool, since: str | None, quiet: bool
) -> PublishReport:
    total = None
    if svc.count is not None:
        with publisher.registry.connector(svc.connector.name) as conn:
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
    ) as progress:
        task = progress.add_task(svc.code, total=total, rate="0", rejects=0)

        def show(report: PublishReport) -> None:
            progress.update(
                task,
                completed=report.read,
                rate=f"{report.read / max(progress.tasks[0].elapsed or 1e-9, 1e-9):,.0f}",
                rejects=report.rejected,
            )

        return publisher.publish(svc, full=full, since=since, on_batch=show)
