"""``govconnect outbox``: inspect, replay, purge and drain the durable outbox.

The outbox is ``--path``, else ``$GOVCONNECT_OUTBOX``, else ``.govconnect/outbox.sqlite``: a SQLite
file, or a PostgreSQL URL (``postgresql://user@host/db?schema=govconnect``) that many workers on
many machines share.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .._exceptions import GovConnectError
from ..exchange.client import ExchangeClient
from ..exchange.delivery.stats import DeliveryStats
from ..exchange.delivery.worker import DeliveryWorker
from ..exchange.outbox.store import Outbox, is_postgres_url, shown_location

__all__ = ["DEFAULT_OUTBOX", "outbox_app", "register", "require_file_outbox"]

DEFAULT_OUTBOX = ".govconnect/outbox.sqlite"

outbox_app = typer.Typer(
    help="Inspect, replay, purge and drain the durable outbox.", no_args_is_help=True
)
console = Console()

_PATH = typer.Option(
    None,
    "--path",
    "--outbox",
    envvar="GOVCONNECT_OUTBOX",
    help="The outbox: a SQLite file, or a PostgreSQL URL (postgresql://user@host/db).",
)


def _open(path: str | None) -> Outbox:
    """Open the outbox, or exit 1 naming what failed (a URL's password is never shown)."""
    try:
        return Outbox(path or DEFAULT_OUTBOX)
    except GovConnectError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


def require_file_outbox(location: str, holds: str) -> None:
    """Refuse a PostgreSQL outbox where ``holds`` (the intake journal, the publishing state)
    still lives in the outbox's SQLite file: a clear message now, not a SQL error later."""
    if is_postgres_url(location):
        raise typer.BadParameter(
            f"{holds} lives in the outbox's SQLite file; a PostgreSQL outbox"
            f" ({shown_location(location)}) serves `govconnect outbox` commands"
            " (status, dead, retry, purge, drain) in this release",
            param_hint="--outbox",
        )


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@outbox_app.command("status")
def status(path: str | None = _PATH) -> None:
    """Pending, in-flight, waiting, delivered and dead exchanges."""
    with _open(path) as outbox:
        s = outbox.status()
    table = Table(title=f"outbox {outbox.path}")
    table.add_column("state")
    table.add_column("count", justify="right")
    for label, value in (
        ("pending (records / status changes)", s.pending),
        ("  ready to send", s.due),
        ("  in flight (leased)", s.in_flight),
        ("  waiting for a retry", s.waiting),
        ("delivered batches", s.delivered_batches),
        ("delivered records", s.delivered_records),
        ("dead letters (batches)", s.dead),
        ("dead records", s.dead_records),
    ):
        table.add_row(label, str(value))
    table.add_row("oldest pending since", _when(s.oldest_pending))
    console.print(table)


@outbox_app.command("dead")
def dead(
    path: str | None = _PATH, limit: int = typer.Option(100, help="Show at most this many.")
) -> None:
    """Dead letters: batches that failed for good, with the platform's reasons."""
    with _open(path) as outbox:
        letters = outbox.dead_letters(limit)
    if not letters:
        console.print("no dead letters")
        return
    table = Table(title="dead letters")
    for column in ("id", "operation", "target", "records", "attempts", "dead at", "reason"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        reason = letter.reason + "".join(f"\n- {p}" for p in letter.problems)
        table.add_row(
            str(letter.id),
            letter.operation,
            letter.target,
            str(letter.records),
            str(letter.attempts),
            _when(letter.dead_at),
            reason,
        )
    console.print(table)


@outbox_app.command("retry")
def retry(
    ids: list[int] | None = typer.Argument(None, help="Dead-letter ids to replay."),
    all_: bool = typer.Option(False, "--all", help="Replay every dead letter."),
    path: str | None = _PATH,
) -> None:
    """Put dead letters back in the outbox (same idempotency keys: never applied twice)."""
    if bool(ids) == all_:
        raise typer.BadParameter("give dead-letter IDs or --all (not both)")
    with _open(path) as outbox:
        if all_:
            count = outbox.replay()
        else:
            known = {letter.id for letter in outbox.dead_letters(limit=1_000_000)}
            missing = sorted(set(ids or ()) - known)
            if missing:
                console.print(f"[red]no dead letter with id {', '.join(map(str, missing))}[/]")
                raise typer.Exit(1)
            count = outbox.replay(ids)
    console.print(f"replayed {count} dead letter(s)")


@outbox_app.command("purge")
def purge(
    delivered_before: datetime = typer.Option(
        ..., "--delivered-before", help="Forget delivered batches before this date (UTC if naive)."
    ),
    path: str | None = _PATH,
) -> None:
    """Forget the delivery log older than a date (pending and dead entries are never purged)."""
    when = delivered_before if delivered_before.tzinfo else delivered_before.replace(tzinfo=UTC)
    with _open(path) as outbox:
        count = outbox.purge(when.timestamp())
    console.print(f"purged {count} delivered batch record(s)")


@outbox_app.command("drain")
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
        "-f",
        help="Keep delivering what other processes enqueue, until SIGTERM or Ctrl-C (a service).",
    ),
    poll: float = typer.Option(
        0.2, "--poll", min=0.01, help="With --follow: seconds between looks at an idle outbox."
    ),
    path: str | None = _PATH,
) -> None:
    """Deliver everything pending to the platform, with a progress display; or, with --follow,
    run as the department's delivery service."""
    if follow and timeout is None and threading.current_thread() is not threading.main_thread():
        # no signal handler can stop it there: it would run until the process ends
        raise typer.BadParameter("--follow off the main thread needs --timeout")
    stop = threading.Event()
    try:
        with (
            _open(path) as outbox,
            ExchangeClient(url, token=token, node=node, user_id=user, retry=None) as client,
            _stopping_on_signals(stop, enabled=follow),
        ):
            total = outbox.pending()
            worker = DeliveryWorker(outbox, client, batch_size=batch_size)
            if follow:
                console.print(f"delivering from {outbox.path} until stopped (SIGTERM or Ctrl-C)")
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
    except GovConnectError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(
        f"delivered {stats.records_delivered} record(s) in {stats.batches_delivered} batch(es)"
        f" ({stats.duplicates} duplicate ack(s), {stats.retries} retries) in {stats.seconds:.1f}s;"
        f" dead-lettered {stats.records_dead}; {left} still pending"
    )
    if not follow and (left or stats.dead_lettered):  # a service stopped cleanly exits 0
        raise typer.Exit(1)


@contextmanager
def _stopping_on_signals(stop: threading.Event, *, enabled: bool) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` (the drain finishes the batch in hand, gives back what it
    claimed ahead, and returns) instead of killing the process mid-batch."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def register(root: typer.Typer) -> None:
    root.add_typer(outbox_app, name="outbox")
