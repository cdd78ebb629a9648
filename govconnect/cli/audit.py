"""``govconnect audit …``: verify, export and summarise the gateway's audit log."""

from __future__ import annotations

import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .._config import load_config
from .._exceptions import AuditIntegrityError, ConfigurationError
from ..exchange.outbox.store import is_postgres_url
from ..gateway.audit import AuditLog
from ..gateway.bounds import clean_text
from ..gateway.policy import load_gateway_config
from ._common import console, err_console, handles_errors, print_json, registry

audit_app = typer.Typer(help="Verify, export and summarise the audit log.", no_args_is_help=True)

LOG_OPTION = typer.Option(
    None,
    "--audit-log",
    envvar="GOVCONNECT_AUDIT_LOG",
    help="Audit log: a SQLite file or a PostgreSQL URL (default: the gateway file's "
    "audit_log, else the state dir).",
)
OLD_LOG_OPTION = typer.Option(None, "--log", hidden=True, help="Deprecated: use --audit-log.")
"""``--log`` was these commands' name for what ``serve`` calls ``--audit-log``: kept, hidden."""
CONFIG_OPTION = typer.Option(None, "--config", help="Gateway file naming the audit log.")


def _cell(value: object) -> Text:
    """A table cell from audit data: plain text, never rich markup (a purpose of ``[/x]`` must
    neither crash the table nor hide a record), control characters neutralised (logs written
    before the gateway cleaned them may still hold some)."""
    return Text(clean_text(str(value)) or "")


def _plain(value: object) -> str:
    """Audit data inside a markup string (``console.print(f"…")``): escaped and cleaned."""
    return escape(clean_text(str(value)) or "")


class ExportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


class UsageBy(StrEnum):
    service = "service"
    officer = "officer"


def _officer_usage(ctx: typer.Context, log: str | None, config: Path | None, as_json: bool) -> None:
    with open_log(ctx, log, config) as audit:
        rows = [asdict(u) for u in audit.officer_usage()]
    if as_json:
        print_json({"log": str(audit.path), "by": "officer", "usage": rows})
        return
    table = Table(title="Usage per officer (from the audit log)")
    for col in ("officer", "issuer", "calls", "allowed", "refused", "rows", "services", "last"):
        table.add_column(col)
    for r in rows:
        who = r["auth"] if r["officer"] is None else f"{r['auth']}: {r['officer']}"
        figures = (r["calls"], r["allowed"], r["refused"], r["rows"], r["services"])
        table.add_row(
            _cell(who),
            _cell(r["issuer"] or "-"),
            *map(_cell, figures),
            _cell(r["last_used"] or "-"),
        )
    console.print(table)


def register(root: typer.Typer) -> None:
    root.add_typer(audit_app, name="audit")


def open_log(ctx: typer.Context, log: str | None, config: Path | None) -> AuditLog:
    """The audit log from ``--audit-log`` (or ``$GOVCONNECT_AUDIT_LOG``), the gateway file's
    ``audit_log``, or the state dir: a SQLite file, or a PostgreSQL URL."""
    path: Path | str | None = log
    if path is None and config is not None:
        path = load_gateway_config(config).gateway.audit_log
    if path is None:
        root = ctx.find_root()
        obj = root.obj if isinstance(root.obj, dict) else {}
        path = load_config(obj.get("config")).state_dir / "audit.sqlite"
    if not is_postgres_url(path) and not Path(path).exists():
        raise ConfigurationError(f"no audit log at {str(path)!r}")
    # read-only: these commands never create or change anything (not even the key file), so
    # they work on an inspector's read-only copy
    return AuditLog(path, readonly=True)


@audit_app.command("verify")
@handles_errors
def verify(
    ctx: typer.Context,
    log: str | None = LOG_OPTION,
    old_log: str | None = OLD_LOG_OPTION,
    config: Path | None = CONFIG_OPTION,
    anchor: str | None = typer.Option(
        None, "--anchor", help="SEQ:HASH noted earlier (govconnect audit head); must still hold."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON for scripts."),
) -> None:
    """Check the hash chain; exit 1 naming the first altered, deleted or reordered record."""
    expected: tuple[int, str] | None = None
    if anchor:
        seq, _, value = anchor.partition(":")
        if not seq.isdigit() or not value:
            raise ConfigurationError("--anchor takes SEQ:HASH, as `govconnect audit head` prints")
        expected = (int(seq), value)
    with open_log(ctx, log or old_log, config) as audit:
        try:
            report = audit.verify(expected)
        except AuditIntegrityError as exc:
            if not as_json:
                raise
            # a script gets the verdict on stdout in the same shape, and still exit 1
            problem = {"seq": exc.seq, "kind": exc.kind, "detail": exc.detail}
            print_json({"log": str(audit.path), "intact": False, "problem": problem})
            raise typer.Exit(1) from None
    notes = []
    if report.keyed_from is None:
        notes.append(
            "this log is not keyed (written before keying): a forgery needs no key. "
            "A gateway keys it from its next record when it next starts."
        )
    elif report.unkeyed:
        notes.append(
            f"records 1..{report.unkeyed} were written before keying and are chained "
            f"without a key; keyed from record {report.keyed_from} (since {report.created})"
        )
    if as_json:
        print_json(
            {
                "log": str(audit.path),
                "intact": True,
                "records": report.records,
                "chain": report.chain,
                "head": {"seq": report.head_seq, "hash": report.head_hash},
                "keyed_from": report.keyed_from,
                "unkeyed": report.unkeyed,
                "warnings": notes,
            }
        )
        return
    console.print(
        f"audit log intact: {report.records} record(s), {_plain(report.chain)} chain, "
        f"head {report.head_seq}:{_plain(report.head_hash)}"
    )
    for note in notes:
        label = "[yellow]warning:[/]" if report.keyed_from is None else "note:"
        err_console.print(f"{label} {escape(note)}")


@audit_app.command("head")
@handles_errors
def head(
    ctx: typer.Context,
    log: str | None = LOG_OPTION,
    old_log: str | None = OLD_LOG_OPTION,
    config: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON for scripts."),
) -> None:
    """Print SEQ:HASH of the last record; note it elsewhere to anchor the log."""
    with open_log(ctx, log or old_log, config) as audit:
        seq, value = audit.head()
    if as_json:
        print_json({"log": str(audit.path), "head": {"seq": seq, "hash": value}})
        return
    console.print(f"{seq}:{_plain(value)}")


@audit_app.command("export")
@handles_errors
def export(
    ctx: typer.Context,
    log: str | None = LOG_OPTION,
    old_log: str | None = OLD_LOG_OPTION,
    config: Path | None = CONFIG_OPTION,
    since: str | None = typer.Option(None, "--since", help="From this UTC date/time (inclusive)."),
    until: str | None = typer.Option(None, "--until", help="Up to this UTC date/time (exclusive)."),
    fmt: ExportFormat = typer.Option(ExportFormat.jsonl, "--format", "-f", help="csv or jsonl."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE, not stdout."),
) -> None:
    """Export records with their hashes for an inspector (CSV or JSON lines)."""
    with open_log(ctx, log or old_log, config) as audit:
        if output is None:
            audit.export(sys.stdout, fmt.value, since, until)
            return
        with output.open("w", encoding="utf-8", newline="") as fh:
            n = audit.export(fh, fmt.value, since, until)
    err_console.print(f"wrote {n} record(s) to {output}")


@audit_app.command("find")
@handles_errors
def find(
    ctx: typer.Context,
    param: list[str] = typer.Option(
        [], "--param", help="NAME=VALUE as the consumer sent it; repeat for each parameter."
    ),
    officer: str | None = typer.Option(
        None, "--officer", help="A verified officer's subject (`sub`): the calls they made."
    ),
    issuer: str | None = typer.Option(
        None, "--issuer", help="With --officer: only tokens of this issuer."
    ),
    log: str | None = LOG_OPTION,
    old_log: str | None = OLD_LOG_OPTION,
    config: Path | None = CONFIG_OPTION,
) -> None:
    """List the calls made with exactly these parameters, or by a verified officer (needs the
    log's key: both are matched by keyed digest)."""
    if bool(param) == bool(officer):
        raise ConfigurationError("give --param NAME=VALUE (repeatable) or --officer SUBJECT")
    params: dict[str, str] = {}
    for item in param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigurationError(f"--param takes NAME=VALUE, got {item!r}")
        params[name] = value
    with open_log(ctx, log or old_log, config) as audit:
        if officer:
            found = list(audit.find_officer(officer, issuer))
            title = f"{len(found)} call(s) by this verified officer"
        else:
            found = list(audit.find(params))
            title = f"{len(found)} call(s) with these parameters"
    if not found:  # a sentence, not an empty table
        console.print(title)
        return
    table = Table(title=title)
    for col in ("seq", "time", "consumer", "service", "purpose", "officer", "outcome", "rows"):
        table.add_column(col)
    for r in found:
        who = r.officer_auth or "-"
        if r.officer_auth == "verified":
            who = f"verified ({r.officer_level or 'no level'})"
        elif r.officer:
            who = f"{who}: {r.officer}"
        table.add_row(
            *map(_cell, (r.seq, r.time, r.consumer or "-", r.service, r.purpose or "", who)),
            *map(_cell, (r.outcome, r.rows)),
        )
    console.print(table)


@audit_app.command("usage")
@handles_errors
def usage(
    ctx: typer.Context,
    log: str | None = LOG_OPTION,
    old_log: str | None = OLD_LOG_OPTION,
    config: Path | None = CONFIG_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
    by: UsageBy = typer.Option(UsageBy.service, "--by", help="Group by service or by officer."),
) -> None:
    """Calls, rows, consumers and last use per service (catalogued services never called show
    0), or per officer (--by officer: verified ones by keyed digest, claimed ones by name)."""
    if by is UsageBy.officer:
        _officer_usage(ctx, log or old_log, config, as_json)
        return
    with open_log(ctx, log or old_log, config) as audit:
        figures = {u.service: u for u in audit.usage()}
        path = str(audit.path)
    catalogued = [s.id for s in registry(ctx).services() if s.kind == "query"]
    names = sorted(set(figures) | set(catalogued))
    rows = []
    for name in names:
        u = figures.get(name)
        rows.append(
            {
                "service": name,
                "calls": u.calls if u else 0,
                "allowed": u.allowed if u else 0,
                "refused": u.refused if u else 0,
                "rows": u.rows if u else 0,
                "consumers": u.consumers if u else 0,
                "last_used": u.last_used if u else None,
            }
        )
    if as_json:  # an object, as every --json document (docs/cli.md); the rows under "usage"
        print_json({"log": path, "by": "service", "usage": rows})
        return
    table = Table(title="Service usage (from the audit log)")
    for col in ("service", "calls", "allowed", "refused", "rows", "consumers", "last used"):
        table.add_column(col)
    for r in rows:
        figures_cells = (r["calls"], r["allowed"], r["refused"], r["rows"], r["consumers"])
        last = _cell(r["last_used"]) if r["last_used"] else Text("never", style="red")
        table.add_row(_cell(r["service"]), *map(_cell, figures_cells), last)
    console.print(table)
