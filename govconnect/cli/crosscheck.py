"""``govconnect crosscheck``: one number, one source, multi-source cross-check (多源校核).

Wraps :func:`govconnect.crosscheck.crosscheck`. Masking is the gateway's (``masker_for``), so a
name reads ``张**`` here as it does to a consumer without the personal grant; ``--reveal`` shows
the values and is written to the audit log first, since a report that names people is itself a
disclosure someone must answer for.

``--notify`` sends the conflicts back to the source: a correction notice for each copy that
differs from the authoritative source, queued in the outbox (each notice once, ever) and, with
``--deliver``, sent before the command ends (the drain sends whatever else is due in the outbox
too; the figures count the notices apart from those other batches). The notice carries the key and the two values
unmasked (the platform is trusted with them, the addressee must find the record), so queueing
is written to the audit log first, as ``--reveal`` is; the printed report stays masked.
"""

from __future__ import annotations

import getpass
import io
import sys
import threading
from collections import Counter
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._config import load_config
from ..crosscheck import (
    CrosscheckReport,
    NoticeSummary,
    crosscheck,
    send_corrections,
    write_json,
)
from ..exchange.client import ExchangeClient
from ..exchange.delivery.worker import DeliveryWorker
from ..exchange.events import EventKind, ExchangeEvent
from ..exchange.outbox.store import Outbox
from ..gateway.audit import AuditLog
from ..gateway.masking import masker_for
from ._common import console, err_console, handles_errors, registry, scrub

EXIT_CONFLICTS = 3
TEXT_CONFLICTS_SHOWN = 50


class KeyType(StrEnum):
    citizen_id = "citizen_id"
    credit_code = "credit_code"


def _masker(service: Any, name: str) -> Any:
    info = service.record_model.model_fields[name]
    return masker_for(name, info.title or "", info.annotation)


@handles_errors
def crosscheck_command(
    ctx: typer.Context,
    key: KeyType = typer.Option(KeyType.citizen_id, "--key", help="The key records join by."),
    element: list[str] = typer.Option(
        [], "--element", help="A data element to compare (repeatable; default: all shared)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE, not stdout."),
    reveal: bool = typer.Option(
        False, "--reveal", help="Show keys and values unmasked (recorded in the audit log)."
    ),
    audit_log: Path | None = typer.Option(
        None,
        "--audit-log",
        help="Audit log for --reveal and --notify (default: STATE_DIR/audit.sqlite).",
    ),
    notify: bool = typer.Option(
        False,
        "--notify",
        help="Queue a correction notice for each copy that differs from the authoritative source.",
    ),
    outbox_path: str = typer.Option(
        ".govconnect/outbox.sqlite",
        "--outbox",
        envvar="GOVCONNECT_OUTBOX",
        help="The outbox the notices are queued in: a SQLite file, or a PostgreSQL URL.",
    ),
    deliver: bool = typer.Option(
        False,
        "--deliver",
        help="With --notify: drain the outbox now (the notices and anything else due in it).",
    ),
    url: str | None = typer.Option(None, "--url", envvar="GOVCONNECT_PLATFORM_URL"),
    token: str | None = typer.Option(None, "--token", envvar="GOVCONNECT_PLATFORM_TOKEN"),
    node: str | None = typer.Option(None, "--node", envvar="GOVCONNECT_NODE"),
) -> None:
    """Compare the data elements that several datasets hold for one key; exit 3 on conflicts.

    Every installed and configured dataset carrying the key (citizen ID or credit code) is
    streamed and joined by key; values are compared after normalising whitespace, full-width
    characters, date formats and code-table codes. Exit 0: no conflict, 3: conflicts, 1: failure.
    """
    if deliver and not notify:
        raise typer.BadParameter("--deliver sends the notices of --notify: give both")
    if deliver and not (url and token and node):
        raise typer.BadParameter("--deliver needs --url, --token and --node (or their env vars)")
    reg = registry(ctx)
    with crosscheck(reg, key=key.value, elements=element or None) as report:
        if reveal:
            _audit(ctx, audit_log, report, "revealed", f"cross-check by {report.key} with --reveal")
        sent: dict[str, Any] | None = None
        if notify:
            sent = _notify(ctx, audit_log, report, outbox_path, deliver, (url, token, node))
        _write(report, output, as_json, reveal, sent)
        if report.conflicts_total:
            raise typer.Exit(EXIT_CONFLICTS)


def _write(
    report: CrosscheckReport,
    output: Path | None,
    as_json: bool,
    reveal: bool,
    sent: dict[str, Any] | None,
) -> None:
    """Print the report or write it to ``output`` (through a temporary file, replaced at the
    end); the ``--json`` document is streamed a conflict at a time, never built whole."""
    extra = {"corrections": sent} if sent is not None else None
    if output is None:
        if as_json:
            write_json(
                report,
                sys.stdout,
                reveal=reveal,
                masker_for=_masker,
                extra=extra,
                scrub=scrub,
            )
        else:
            console.print(_text(report, reveal, sent), end="", markup=False)
        return
    tmp = output.with_name(output.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as out:
        if as_json:
            write_json(report, out, reveal=reveal, masker_for=_masker, extra=extra)
        else:
            out.write(_text(report, reveal, sent))
    tmp.replace(output)
    err_console.print(f"wrote the cross-check report to {escape(str(output))}")


def _notify(
    ctx: typer.Context,
    audit_log: Path | None,
    report: CrosscheckReport,
    outbox_path: str,
    deliver: bool,
    platform: tuple[str | None, str | None, str | None],
) -> dict[str, Any]:
    """Queue the report's correction notices (audited first: personal data leaves for the
    platform) and, with ``deliver``, send them; returns the ``corrections`` summary."""
    officer = getpass.getuser()
    purpose = f"correction notices of a cross-check by {report.key} (--notify)"
    _audit(ctx, audit_log, report, "notified", purpose)
    with Outbox(outbox_path) as outbox:
        summary: NoticeSummary = send_corrections(report, outbox, user_id=officer)
        result: dict[str, Any] = summary.as_dict()
        if deliver:
            url, token, node = platform
            assert url and token and node
            result.update(_deliver(outbox, url, token, node, officer))
    return result


def _deliver(outbox: Outbox, url: str, token: str, node: str, officer: str) -> dict[str, int]:
    """Drain the outbox (everything due in it: it may be shared with ``publish`` and intake),
    counting the correction notices delivered and dead-lettered apart from the other batches."""
    counts: Counter[tuple[str, EventKind]] = Counter()
    lock = threading.Lock()

    def count(event: ExchangeEvent) -> None:
        if event.kind in (EventKind.DELIVERED, EventKind.DEAD_LETTERED):
            kind = "correction" if event.operation == "correction" else "other"
            with lock:
                counts[kind, event.kind] += 1

    with ExchangeClient(url, token=token, node=node, user_id=officer) as client:
        worker = DeliveryWorker(outbox, client, pm=outbox.observers.pm, on_event=count)
        worker.drain(timeout=120)
    return {
        "delivered": counts["correction", EventKind.DELIVERED],
        "dead": counts["correction", EventKind.DEAD_LETTERED],
        "other_delivered": counts["other", EventKind.DELIVERED],
        "other_dead": counts["other", EventKind.DEAD_LETTERED],
    }


def _audit(
    ctx: typer.Context, path: Path | None, report: CrosscheckReport, outcome: str, purpose: str
) -> None:
    """Record the disclosure before anything is shown or queued: no audit record, no revealed
    values and no notice."""
    if path is None:
        root = ctx.find_root()
        obj = root.obj if isinstance(root.obj, dict) else {}
        path = load_config(obj.get("config")).state_dir / "audit.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    elements = sorted({e for s in report.sources.values() for e in s.elements})
    with AuditLog(path) as audit:
        audit.append(
            service="crosscheck",
            outcome=outcome,
            status=200,
            consumer="govconnect crosscheck",
            purpose=purpose,
            officer=getpass.getuser(),
            fields=elements,
            rows=report.conflicts_total,
        )


def _text(report: CrosscheckReport, reveal: bool, sent: dict[str, Any] | None) -> str:
    buffer = io.StringIO()
    out = Console(file=buffer, width=160, highlight=False, soft_wrap=True)
    table = Table(title=f"Cross-check by {report.key}")
    for col in (
        "source",
        "resource",
        "records",
        "keys compared",
        "duplicate keys",
        "authoritative",
    ):
        table.add_column(col)
    for name, s in report.sources.items():
        table.add_row(
            escape(name),
            s.service.code,
            str(s.records),
            str(s.keys_compared),
            str(report.duplicates.get(name, 0)),
            escape(", ".join(s.authoritative) or "-"),
        )
    out.print(table)
    out.print(f"conflicts: {report.conflicts_total}", markup=False)
    for element, n in report.conflicts_by_element.items():
        out.print(f"  {element}: {n}", markup=False)
    for pair, n in report.conflicts_by_pair.items():
        out.print(f"  {pair}: {n}", markup=False)
    shown = report.shown(reveal=reveal, masker_for=_masker)
    for c in islice(shown, TEXT_CONFLICTS_SHOWN):
        values = "; ".join(
            f"{src}{' (authoritative)' if src == c['authoritative'] else ''}={v}"
            for src, v in c["values"].items()
        )
        out.print(f"  {c['key']}  {c['element']}: {values}", markup=False)
    if report.conflicts_total > TEXT_CONFLICTS_SHOWN:
        out.print(f"  … and {report.conflicts_total - TEXT_CONFLICTS_SHOWN} more (use --json)")
    if sent is not None:
        out.print(_sent_line(sent), markup=False)
    return buffer.getvalue()


def _sent_line(sent: dict[str, Any]) -> str:
    """The summary of ``--notify`` (and ``--deliver``) in one line, pointing at the dead-letter
    commands when the platform refused notices."""
    line = (
        f"correction notices: {sent['queued']} queued, {sent['already_queued']} already "
        f"queued earlier, {sent['already_dead']} refused earlier (dead letters), "
        f"{sent['unaddressed']} conflict(s) with no authoritative source (not sent)"
    )
    if "delivered" in sent:
        line += f"; {sent['delivered']} delivered, {sent['dead']} dead letters"
        if sent["other_delivered"] or sent["other_dead"]:
            line += (
                f" (the outbox's other batches drained meanwhile: {sent['other_delivered']}"
                f" delivered, {sent['other_dead']} dead letters)"
            )
    if sent["already_dead"] or sent.get("dead"):
        line += "; see `govconnect outbox dead`, resend with `govconnect outbox retry ID…|--all`"
    return line


def register(root: typer.Typer) -> None:
    root.command("crosscheck")(crosscheck_command)
