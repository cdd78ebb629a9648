"""``govconnect outbox``: inspect, replay, purge and drain the durable outbox.

The outbox is ``--outbox``, else ``$GOVCONNECT_OUTBOX``, else ``.govconnect/outbox.sqlite``: a
SQLite file, or a PostgreSQL URL (``postgresql://user@host/db?schema=govconnect``) that many workers
on many machines share. ``--outbox`` is its name in every command (``publish`` and ``intake run``
too); ``--path`` is its old spelling here, kept hidden so existing scripts keep working.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._exceptions import ConfigurationError
from ..exchange.client import ExchangeClient
from ..exchange.delivery.stats import DeliveryStats
from ..exchange.delivery.worker import DeliveryWorker
from ..exchange.outbox.store import Outbox, shown_location
from ._common import console, handles_errors, print_json, stopping_on_signals

__all__ = ["DEFAULT_OUTBOX", "outbox_app", "register"]

DEFAULT_OUTBOX = ".govconnect/outbox.sqlite"

outbox_app = typer.Typer(
    help="Inspect, replay, purge and drain the durable outbox.", no_args_is_help=True
)
_OUTBOX = typer.Option(
    None,
    "--outbox",
    envvar="GOVCONNECT_OUTBOX",
    help="The outbox: a SQLite file, or a PostgreSQL URL (postgresql://user@host/db)."
    f" Default: {DEFAULT_OUTBOX}.",
)
_OLD_PATH = typer.Option(None, "--path", hidden=True, help="Deprecated spelling of --outbox.")


def _location(outbox: str | None, old_path: str | None) -> str:
    """The outbox a command uses: ``--path`` (the old spelling, hidden, documented as deprecated in
    docs/cli.md; no warning, so the output scripts parse stays the same) when given, else
    ``--outbox`` / ``$GOVCONNECT_OUTBOX``, else the default file."""
    if old_path is not None:
        return old_path
    return outbox or DEFAULT_OUTBOX


def _open(outbox: str | None, old_path: str | None) -> Outbox:
    """Open the outbox; a failure (unreachable database, full disk, read-only or unusable file)
    is a ``GovConnectError`` naming the outbox, reported by ``handles_errors`` in one line."""
    return Outbox(_location(outbox, old_path))


def _iso(ts: float | None) -> str | None:
    """A timestamp as ISO 8601 UTC for ``--json`` (scripts parse it; ``None`` stays null)."""
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


_STATES = (
    ("pending", "pending (records / status changes)"),
    ("due", "  ready to send"),
    ("in_flight", "  in flight (leased)"),
    ("waiting", "  waiting for a retry"),
    ("delivered_batches", "delivered batches"),
    ("delivered_records", "delivered records"),
    ("dead", "dead letters (batches)"),
    ("dead_records", "dead records"),
)


@outbox_app.command("status")
@handles_errors
def status(
    outbox: str | None = _OUTBOX,
    old_path: str | None = _OLD_PATH,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON for scripts."),
) -> None:
    """Pending, in-flight, waiting, delivered and dead exchanges."""
    with _open(outbox, old_path) as box:
        s = box.status()
    if as_json:
        figures = {key: getattr(s, key) for key, _ in _STATES}
        oldest = _iso(s.oldest_pending)
        print_json({"outbox": shown_location(box.path), **figures, "oldest_pending": oldest})
        return
    table = Table(title=f"outbox {shown_location(box.path)}")
    table.add_column("state", no_wrap=True)
    table.add_column("count", justify="right")
    for key, label in _STATES:
        table.add_row(label, str(getattr(s, key)))
    table.add_row("oldest pending since", _when(s.oldest_pending))
    console.print(table)


@outbox_app.command("dead")
@handles_errors
def dead(
    outbox: str | None = _OUTBOX,
    old_path: str | None = _OLD_PATH,
    limit: int = typer.Option(100, "--limit", min=1, help="Show at most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON for scripts."),
) -> None:
    """Dead letters: batches that failed for good, with the platform's reasons."""
    with _open(outbox, old_path) as box:
        letters = box.dead_letters(limit)
    if as_json:
        print_json(
            {
                "outbox": shown_location(box.path),
                "dead_letters": [
                    {
                        "id": letter.id,
                        "operation": letter.operation,
                        "target": letter.target,
                        "records": letter.records,
                        "attempts": letter.attempts,
                        "dead_at": _iso(letter.dead_at),
                        "reason": letter.reason,
                        "problems": [p.as_dict() for p in letter.problems],
                    }
                    for letter in letters
                ],
            }
        )
        return
    if not letters:
        console.print("no dead letters")
        return
    table = Table(title="dead letters")
    table.add_column("id", no_wrap=True, justify="right")
    for column in ("operation", "target", "records", "attempts", "dead at", "reason"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        reason = letter.reason + "".join(f"\n- {p}" for p in letter.problems)
        table.add_row(
            str(letter.id),
            escape(letter.operation),
            escape(letter.target),
            str(letter.records),
            str(letter.attempts),
            _when(letter.dead_at),
            escape(reason),
        )
    console.print(table)


@outbox_app.command("retry")
@handles_errors
def retry(
    ids: list[int] | None = typer.Argument(None, help="Dead-letter ids to replay."),
    all_: bool = typer.Option(False, "--all", help="Replay every dead letter."),
    outbox: str | None = _OUTBOX,
    old_path: str | None = _OLD_PATH,
) -> None:
    """Put dead letters back in the outbox (same idempotency keys: never applied twice)."""
    if bool(ids) == all_:
        raise typer.BadParameter("give dead-letter IDs or --all (not both)")
    with _open(outbox, old_path) as box:
        if all_:
            count = box.replay()
        else:
            known = {letter.id for letter in box.dead_letters(limit=1_000_000)}
            missing = sorted(set(ids or ()) - known)
            if missing:
                raise ConfigurationError(
                    f"no dead letter with id {', '.join(map(str, missing))}"
                    f" in the outbox at {shown_location(box.path)}"
                )
            count = box.replay(ids)
    console.print(f"replayed {count} dead letter(s)")


@outbox_app.command("purge")
@handles_errors
def purge(
    delivered_before: datetime = typer.Option(
        ..., "--delivered-before", help="Forget delivered batches before this date (UTC if naive)."
    ),
    outbox: str | None = _OUTBOX,
    old_path: str | None = _OLD_PATH,
) -> None:
    """Forget the delivery log older than a date (pending and dead entries are never purged)."""
    when = delivered_before if delivered_before.tzinfo else delivered_before.replace(tzinfo=UTC)
    with _open(outbox, old_path) as box:
        count = box.purge(when.timestamp())
    console.print(f"purged {count} delivered batch record(s)")


@outbox_app.command("drain")
@handles_errors
def drain(
    url: str = typer.Option(..., "--url", envvar="GOVCONNECT_PLATFORM_URL", help="Platform URL."),
    token: str = typer.Option(
        ..., "--token", envvar="GOVCONNECT_PLATFORM_TOKEN", help="Node token (prefer the env var)."
    ),
    node: str = typer.Option(..., "--node", envvar="GOVCONNECT_NODE", help="dept_code/system_code"),
    user: str = typer.Option("govconnect-outbox", "--user", help="Handling officer to send as."),
    threads: int = typer.Option(1, "--threads", min=1, max=32),
    batch_size: int = typer.Option(
        500,
        "--batch-size",
        min=1,
        max=5000,
        help="Most records per request when small outbox rows are combined (a row is never split).",
    ),
    timeout: float | None = typer.Option(None, "--timeout", help="Stop after this many seconds."),
    follow: bool = typer.Option(
        False,
        "--follow",
        help="Keep delivering what other processes enqueue, until SIGTERM or Ctrl-C (a service).",
    ),
    poll: float = typer.Option(
        0.2, "--poll", min=0.01, help="With --follow: seconds between looks at an idle outbox."
    ),
    outbox_location: str | None = _OUTBOX,
    old_path: str | None = _OLD_PATH,
) -> None:
    """Deliver everything pending to the platform, with a progress display; or, with --follow,
    run as the department's delivery service."""
    if follow and timeout is None and threading.current_thread() is not threading.main_thread():
        # no signal handler can stop it there: it would run until the process ends
        raise typer.BadParameter("--follow off the main thread needs --timeout")
    stop = threading.Event()
    with (
        _open(outbox_location, old_path) as outbox,
        ExchangeClient(url, token=token, node=node, user_id=user, retry=None) as client,
        stopping_on_signals(stop, enabled=follow),
    ):
        total = outbox.pending()
        worker = DeliveryWorker(outbox, client, batch_size=batch_size)
        if follow:
            console.print(
                f"delivering from {shown_location(outbox.path)} until stopped (SIGTERM or Ctrl-C)"
            )
        with Progress(
            TextColumn("[bold]draining"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            disable=follow or total < batch_size,
        ) as progress:
            task = progress.add_task("drain", total=total, note="")

            def show(stats: DeliveryStats) -> None:
                done = stats.records_delivered + stats.records_dead
                note = f"retries {stats.retries} dead {stats.dead_lettered}"
                progress.update(task, completed=done, note=note)

            stats = worker.drain(
                timeout=timeout,
                threads=threads,
                on_progress=show,
                stop=stop,
                idle_poll=poll if follow else 0.05,
                finished=threading.Event() if follow else None,  # never set: follow
            )
        left = outbox.pending()
    console.print(
        f"delivered {stats.records_delivered} record(s) in {stats.batches_delivered} batch(es)"
        f" ({stats.duplicates} duplicate ack(s), {stats.retries} retries) in {stats.seconds:.1f}s;"
        f" dead-lettered {stats.records_dead}; {left} still pending"
    )
    if not follow and (left or stats.dead_lettered):  # a service stopped cleanly exits 0
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    root.add_typer(outbox_app, name="outbox")
