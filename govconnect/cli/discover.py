"""``govconnect discover sql URL``: suggest catalog metadata from a legacy database, read-only.

Exit codes follow the other commands: 0 ok, 1 failure (the database could not be used, or a table
could not be discovered — the others are still reported), 2 usage error, 3 schema drift against
``--against`` / ``--against-installed`` (like ``catalog diff --exit-code``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ..catalog.model import Catalog
from ..discovery import DEFAULT_SAMPLE, DiscoveryReport, Drift, TableReport, discover, drift
from ..discovery.discover import DEFAULT_TIMEOUT
from ._common import console, err_console, handles_errors, print_json, registry, write_output
from .catalog import _print_diff, _read_document

discover_app = typer.Typer(
    help="Discover legacy systems and suggest their catalog (read-only).", no_args_is_help=True
)

_ROUTINE = ("title from", "data type", "no personal information", "personal information is")


def register(root: typer.Typer) -> None:
    root.add_typer(discover_app, name="discover")


@discover_app.command("sql")
@handles_errors
def sql(
    ctx: typer.Context,
    url: str = typer.Argument(
        ...,
        envvar="GOVCONNECT_DISCOVER_URL",
        help="SQLAlchemy URL of the legacy database (or $GOVCONNECT_DISCOVER_URL, to keep the "
        "password off the command line). It is never printed with its password.",
        show_envvar=True,
    ),
    schema: str | None = typer.Option(
        None, "--schema", help="Schema to discover (default: the connection's)."
    ),
    tables: list[str] | None = typer.Option(
        None, "--table", help="Table to discover (repeatable; default all)."
    ),
    sample: int = typer.Option(
        DEFAULT_SAMPLE, "--sample", min=1, help="Rows sampled per table at most."
    ),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT, "--timeout", min=0.1, help="Seconds each statement may take."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the JSON report to FILE, not stdout."
    ),
    against: Path | None = typer.Option(
        None, "--against", help="A catalog export (JSON) to compare with; exit 3 on drift."
    ),
    against_installed: bool = typer.Option(
        False,
        "--against-installed",
        help="Compare with the installed connectors' catalog; exit 3 on drift.",
    ),
) -> None:
    """Reflect and sample a SQL database; suggest titles, types, identities, code tables, levels.

    Nothing is written to the database, and no sampled value is ever printed: reasons give counts.
    """
    reg = registry(ctx)
    catalogs: list[Catalog] = []
    if against is not None:
        catalogs.append(_read_document(against))
    if against_installed:
        catalogs.append(reg.catalog())
    report = discover(
        url, schema=schema, tables=tables, sample=sample, timeout=timeout, registry=reg
    )
    drifts = [drift(report, c) for c in catalogs]
    data = report.as_dict()
    if drifts:
        data["drift"] = [d.as_dict() for d in drifts]
    if output is not None:
        write_output(output, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        err_console.print(f"wrote discovery report ({len(report.tables)} tables) to {output}")
    elif as_json:
        print_json(data)
    else:
        _print_report(report)
        for d in drifts:
            _print_drift(d)
    for table in report.failed:
        err_console.print(f"[bold red]error:[/] {escape(table.error or '')}", highlight=False)
    if report.failed:
        raise typer.Exit(1)
    if any(not d.empty for d in drifts):
        raise typer.Exit(3)


def _print_report(report: DiscoveryReport) -> None:
    console.print(f"[bold]{escape(report.url)}[/]: {len(report.tables)} table(s)")
    for table in report.tables:
        if table.error is None:
            console.print(_table(table))
            _why(table)


def _table(table: TableReport) -> Table:
    key = ", ".join(table.key) if table.key else "-"
    rows = table.rows_estimate if table.rows_estimate is not None else "?"
    title = f"{table.name}  rows≈{rows}  key={key}  replication key={table.replication_key or '-'}"
    out = Table(title=escape(title), title_justify="left")
    out.add_column("column", no_wrap=True)
    out.add_column("sql type")
    out.add_column("title")
    out.add_column("type", no_wrap=True)
    out.add_column("detected")
    out.add_column("level", no_wrap=True)
    for c in table.columns:
        detected = ", ".join(
            x for x in (c.identity, c.code_table and f"code table {c.code_table}") if x
        )
        out.add_row(
            escape(c.name),
            escape(c.sql_type) + ("" if c.nullable else " NOT NULL"),
            escape(f"{c.title or '-'} ({c.title_source})"),
            f"{c.data_type.value} {c.python_type}",
            escape(detected),
            c.level.value + (" personal" if c.personal else ""),
        )
    return out


def _why(table: TableReport) -> None:
    for line in table.reasons:
        console.print(f"  {escape(line)}")
    for c in table.columns:
        why = " ".join(r for r in c.reasons if not r.startswith(_ROUTINE))
        if why:
            console.print(f"  [bold]{escape(c.name)}[/]: {escape(why)}")


def _print_drift(result: Drift) -> None:
    for code, table in result.tables.items():
        console.print(f"resource {code} compared with table {escape(table)}")
    if result.unmatched:
        console.print(f"not compared (no matching table): {', '.join(result.unmatched)}")
    if result.empty:
        console.print("no schema drift")
    else:
        _print_diff(result.diff)
