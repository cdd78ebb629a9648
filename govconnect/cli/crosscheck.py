"""``govconnect crosscheck``: one number, one source, multi-source cross-check (多源校核).

Wraps :func:`govconnect.crosscheck.crosscheck`. Masking is the gateway's (``masker_for``), so a
name reads ``张**`` here as it does to a consumer without the personal grant; ``--reveal`` shows
the values and is written to the audit log first, since a report that names people is itself a
disclosure someone must answer for.
"""

from __future__ import annotations

import getpass
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._config import load_config
from ..crosscheck import CrosscheckReport, crosscheck
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
        None, "--audit-log", help="Audit log for --reveal (default: STATE_DIR/audit.sqlite)."
    ),
) -> None:
    """Compare the data elements that several datasets hold for one key; exit 3 on conflicts.

    Every installed and configured dataset carrying the key (citizen ID or credit code) is
    streamed and joined by key; values are compared after normalising whitespace, full-width
    characters, date formats and code-table codes. Exit 0: no conflict, 3: conflicts, 1: failure.
    """
    reg = registry(ctx)
    report = crosscheck(reg, key=key.value, elements=element or None)
    if reveal:
        _audit(ctx, audit_log, report)
    document = report.as_dict(reveal=reveal, masker_for=_masker)
    text = (
        json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        if as_json
        else _text(report, document)
    )
    if output is None:
        if as_json:
            typer.echo(scrub(text), nl=False)
        else:
            console.print(text, end="", markup=False)
    else:
        tmp = output.with_name(output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(output)
        err_console.print(f"wrote the cross-check report to {escape(str(output))}")
    if report.conflicts_total:
        raise typer.Exit(EXIT_CONFLICTS)


def _audit(ctx: typer.Context, path: Path | None, report: CrosscheckReport) -> None:
    """Record the disclosure before anything is shown: no audit record, no revealed values."""
    if path is None:
        root = ctx.find_root()
        obj = root.obj if isinstance(root.obj, dict) else {}
        path = load_config(obj.get("config")).state_dir / "audit.sqlite"
    path.parent.mkdir(parents=True, exist_ok=True)
    elements = sorted({e for s in report.sources.values() for e in s.elements})
    with AuditLog(path) as audit:
        audit.append(
            service="crosscheck",
            outcome="revealed",
            status=200,
            consumer="govconnect crosscheck",
            purpose=f"cross-check by {report.key} with --reveal",
            officer=getpass.getuser(),
            fields=elements,
            rows=report.conflicts_total,
        )


def _text(report: CrosscheckReport, document: dict[str, Any]) -> str:
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
    for c in document["conflicts"][:TEXT_CONFLICTS_SHOWN]:
        values = "; ".join(
            f"{src}{' (authoritative)' if src == c['authoritative'] else ''}={v}"
            for src, v in c["values"].items()
        )
        out.print(f"  {c['key']}  {c['element']}: {values}", markup=False)
    if report.conflicts_total > TEXT_CONFLICTS_SHOWN:
        out.print(f"  … and {report.conflicts_total - TEXT_CONFLICTS_SHOWN} more (use --json)")
    return buffer.getvalue()


def register(root: typer.Typer) -> None:
    root.command("crosscheck")(crosscheck_command)
