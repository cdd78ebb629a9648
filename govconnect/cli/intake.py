"""``govconnect intake run``: cases from the one window into the legacy systems, statuses back."""

from __future__ import annotations

import threading

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._exceptions import ConfigurationError
from .._registry import Registry
from ..bridge.bridge import IntakeBridge
from ..bridge.report import CaseOutcome, IntakeReport
from ..catalog.model import refuse_drafts
from ..exchange.client import ExchangeClient
from ..exchange.delivery.stats import DeliveryStats
from ..exchange.delivery.worker import DeliveryWorker
from ..exchange.outbox.store import Outbox
from ._common import (
    console,
    handles_errors,
    note_not_configured,
    print_json,
    registry,
    stopping_on_signals,
)

intake_app = typer.Typer(help="Pull intake cases into the legacy systems.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(intake_app, name="intake")


@intake_app.command("run")
@handles_errors
def run(
    ctx: typer.Context,
    once: bool = typer.Option(
        False, "--once", help="One round, then exit (default: keep polling)."
    ),
    connector: list[str] = typer.Option(
        [], "--connector", help="Only this connector's matters (repeatable)."
    ),
    url: str = typer.Option(..., "--url", envvar="GOVCONNECT_PLATFORM_URL", help="Platform URL."),
    token: str = typer.Option(
        ..., "--token", envvar="GOVCONNECT_PLATFORM_TOKEN", help="Node token (prefer the env var)."
    ),
    node: str = typer.Option(..., "--node", envvar="GOVCONNECT_NODE", help="dept_code/system_code"),
    user: str = typer.Option("govconnect-intake", "--user", help="Handling officer to act as."),
    outbox_path: str = typer.Option(
        ".govconnect/outbox.sqlite",
        "--outbox",
        envvar="GOVCONNECT_OUTBOX",
        help="The outbox (and intake journal): a SQLite file, or a PostgreSQL URL.",
    ),
    interval: float = typer.Option(10.0, "--interval", min=0.1, help="Seconds between rounds."),
    rounds: int | None = typer.Option(None, "--rounds", min=1, help="Stop after this many rounds."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    allow_drafts: bool = typer.Option(
        False, "--allow-drafts", help="Register drafted catalog values anyway (tests only)."
    ),
) -> None:
    """Pull cases, apply them, acknowledge, report statuses through the outbox, and summarise."""
    reg = registry(ctx)
    chosen = _configured_intake_connectors(reg, connector)
    if not allow_drafts:
        refuse_drafts(reg.node_catalog(node).resources)  # the node's catalog is registered below
    total = IntakeReport()
    delivered = DeliveryStats()
    stop = threading.Event()  # SIGTERM/Ctrl-C: finish the round in hand, then stop
    with (
        ExchangeClient(url, token=token, node=node, user_id=user) as client,
        Outbox(outbox_path) as outbox,
        stopping_on_signals(stop, enabled=not once),
    ):
        # the outbox may also hold dataset batches: the platform takes them only for registered
        # resources, so register the catalog before draining
        client.sync_catalog(r.model_dump(mode="json") for r in reg.node_catalog(node).resources)
        bridge = IntakeBridge(reg, client, outbox, connectors=chosen, user_id=user)
        try:
            modes = bridge.open_sinks()  # how cases commit with their statuses: said up front
            if not as_json:
                for matter, mode in sorted(modes.items()):
                    console.print(f"matter {escape(matter)}: case and status commit in {mode}")
            done = 0
            while True:
                report = _round(bridge, quiet=as_json)
                total.merge(report)
                delivered.merge(DeliveryWorker(outbox, client).drain(timeout=120, stop=stop))
                done += 1
                if once or (rounds is not None and done >= rounds) or stop.wait(interval):
                    break
            if stop.is_set() and not as_json:
                console.print("stopped (SIGTERM or Ctrl-C) after the round in hand")
        except KeyboardInterrupt:
            console.print("stopped")
        finally:
            bridge.close()
    summary = {
        **total.as_dict(),
        "statuses_delivered": delivered.records_delivered,
        "commit_modes": {
            matter: {"one_transaction": mode.one_transaction, "reason": mode.reason}
            for matter, mode in sorted(bridge.commit_modes.items())
        },
    }
    if as_json:
        print_json(summary)
    else:
        print_report(total, delivered)


def _configured_intake_connectors(reg: Registry, asked: list[str]) -> list[str]:
    """The connectors this run takes cases for: the ones asked for (each must be configured),
    else every configured connector with intake handlers; unconfigured ones are named and
    skipped, so nothing touches the legacy system their defaults point at."""
    if asked:
        for name in asked:
            reg.require_configured(name)
        return list(asked)
    with_handlers = sorted(n for n, cls in reg.connectors.items() if cls.intake_handlers())
    chosen = [n for n in with_handlers if reg.is_configured(n)]
    for name in with_handlers:
        if name not in chosen:
            note_not_configured(name)
    if not chosen:
        raise ConfigurationError(
            "no configured connector takes intake cases: configure one "
            "([connectors.<name>] in govconnect.toml or GOVCONNECT_<NAME>_<SETTING>)"
        )
    return chosen


def _round(bridge: IntakeBridge, *, quiet: bool) -> IntakeReport:
    with Progress(
        TextColumn("[bold]intake"),
        BarColumn(),
        TextColumn("{task.completed} cases {task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
        disable=quiet,
        transient=True,
    ) as progress:
        task = progress.add_task("intake", total=None, note="")
        counts = {"written": 0, "returned": 0}

        def tick(outcome: CaseOutcome) -> None:
            if outcome.outcome in counts:
                counts[outcome.outcome] += 1
            note = f"written {counts['written']} returned {counts['returned']}"
            progress.update(task, advance=1, note=note)

        return bridge.run_once(on_case=tick)


def print_report(report: IntakeReport, delivered: DeliveryStats | None = None) -> None:
    table = Table(title="Intake summary")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("cases pulled", report.pulled),
        ("written to the legacy system", report.written),
        ("already there (redelivered)", report.duplicates + report.already_processed),
        ("returned with reasons", report.returned),
        ("deferred (retried next round)", report.deferred),
        ("claimed by the other intake process (left to it)", report.claimed_elsewhere),
        ("malformed (breaks the contract; reported once, skipped)", report.malformed),
        ("malformed, reported before, skipped", report.ignored),
        ("acknowledgements failed (retried next round)", report.ack_failures),
        ("status changes enqueued", report.statuses_enqueued),
        ("status polls failed (retried next round)", report.poll_errors),
        ("fields filled without re-typing", report.fields_filled),
    ]
    if delivered is not None:
        rows.append(("status changes delivered", delivered.records_delivered))
    for label, value in rows:
        table.add_row(label, str(value))
    console.print(table)
    levels = report.auth_levels()
    if levels:
        shown = ", ".join(f"{level} {count}" for level, count in levels.items())
        console.print(f"applicants authenticated at: {shown}")
    for kind, title in (
        ("returned", "Returned cases"),
        ("deferred", "Deferred cases"),
        ("malformed", "Malformed cases"),
    ):
        _print_outcomes([o for o in report.outcomes if o.outcome == kind], title)


def _print_outcomes(outcomes: list[CaseOutcome], title: str) -> None:
    """A table of cases and reasons; ids and reasons are the platform's and the citizen's text,
    so markup and control characters are neutralised (``[/x]`` must not crash the table)."""
    if not outcomes:
        return
    reasons = Table(title=title)
    reasons.add_column("case", no_wrap=True)
    reasons.add_column("reasons")
    for outcome in outcomes[:20]:
        reasons.add_row(
            _cell(outcome.case_id or "(no id)"),
            "\n".join(_cell(str(p)) for p in outcome.problems),
        )
    if len(outcomes) > 20:
        reasons.add_row("…", f"{len(outcomes) - 20} more")
    console.print(reasons)


def _cell(text: str) -> str:
    """Text for a rich table cell: control characters as escapes, markup escaped."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return escape(shown)
