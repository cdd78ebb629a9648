"""``govconnect catalog``: show, export and diff the resource catalog."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from .._exceptions import CatalogValidationError, ConfigurationError
from .._export import export_catalog, public_resources
from ..catalog.diff import CatalogDiff, diff_catalogs
from ..catalog.model import Catalog, drafted_values
from ._common import (
    console,
    err_console,
    handles_errors,
    key_column,
    print_json,
    registry,
    write_output,
)

catalog_app = typer.Typer(help="Show, export and diff the resource catalog.", no_args_is_help=True)


class Format(StrEnum):
    json = "json"
    openapi = "openapi"
    csv = "csv"
    dcat = "dcat"


def register(root: typer.Typer) -> None:
    root.add_typer(catalog_app, name="catalog")


def _checked_catalog(ctx: typer.Context) -> Catalog:
    reg = registry(ctx)
    catalog = reg.catalog()
    problems = catalog.problems()
    if problems:
        raise CatalogValidationError(problems)
    return catalog


@catalog_app.command("show")
@handles_errors
def show(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the catalog document as JSON."),
) -> None:
    """Print the catalog of every loaded connector; exit 1 if it breaks a catalog rule."""
    catalog = _checked_catalog(ctx)
    if as_json:
        print_json(catalog.model_dump(mode="json"))
        return
    table = Table(title=f"Resource catalog ({len(catalog.resources)} resources)")
    key_column(table, "code", [r.code for r in catalog.resources])
    for col in ("name", "provider", "kind", "sharing", "update", "items", "levels"):
        table.add_column(col, overflow="fold")
    for r in catalog.resources:
        levels = sorted({i.level for i in r.items})
        sharing = r.sharing.type.value + (
            f": {r.sharing.conditions}" if r.sharing.conditions else ""
        )
        table.add_row(
            r.code,
            r.name,
            r.provider.name,
            r.kind,
            sharing,
            r.update_cycle.value,
            str(len(r.items)),
            ", ".join(lv.value for lv in levels),
        )
    console.print(table)
    _print_drafts(catalog)


def _print_drafts(catalog: Catalog) -> None:
    """Every value a generator drafted and a person must still decide, one line each."""
    drafted = [(r, path, value) for r in catalog.resources for path, value in drafted_values(r)]
    if not drafted:
        return
    console.print(
        f"{len(drafted)} drafted value(s) still to be decided "
        "(the platform refuses them until they are):"
    )
    for r, path, value in drafted:
        console.print(f"  draft  {escape(r.code)}  {escape(path)} = {escape(repr(value))}")


@catalog_app.command("export")
@handles_errors
def export(
    ctx: typer.Context,
    fmt: Format = typer.Option(Format.json, "--format", "-f", help="Output format."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to FILE, not stdout."),
) -> None:
    """Export the catalog as JSON, OpenAPI 3.1, CSV (one row per item) or DCAT JSON-LD.

    DCAT holds only the open (public) resources; how many were left out goes to stderr.
    """
    catalog = _checked_catalog(ctx)
    text = export_catalog(fmt.value, catalog, registry(ctx).services())
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_output(output, text)
        err_console.print(f"wrote {fmt.value} catalog to {output}")
    if fmt is Format.dcat:
        _print_dcat_left_out(catalog)


def _print_dcat_left_out(catalog: Catalog) -> None:
    """Say on stderr how many resources DCAT left out: a reader of the file alone would take a
    short list for the whole catalog, and stdout must stay the document."""
    total = len(catalog.resources)
    left_out = total - len(public_resources(catalog))
    if left_out:
        err_console.print(
            f"dcat: {left_out} of {total} resource(s) left out: DCAT exports only open (public) "
            "resources (open.public = true, not 不予共享); govconnect catalog export --format json "
            "has them all"
        )


def _read_document(path: Path) -> Catalog:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{path}: not JSON ({exc})") from None
    return Catalog.from_document(data)


@catalog_app.command("diff")
@handles_errors
def diff(
    old: Path = typer.Argument(..., help="The earlier catalog document (JSON)."),
    new: Path = typer.Argument(..., help="The later catalog document (JSON)."),
    as_json: bool = typer.Option(False, "--json", help="Print the diff as JSON."),
    exit_code: bool = typer.Option(
        False, "--exit-code", help="Exit 3 when the catalogs differ (like git diff --exit-code)."
    ),
) -> None:
    """Show resources and items added, removed and changed; sharing-type changes called out."""
    result = diff_catalogs(_read_document(old), _read_document(new))
    if as_json:
        print_json(result.as_dict())
    else:
        _print_diff(result)
    if exit_code and not result.empty:
        raise typer.Exit(3)


def _print_diff(result: CatalogDiff) -> None:
    if result.empty:
        console.print("catalogs are identical")
        return
    for code in result.added:
        console.print(f"[green]+ resource {code}[/]")
    for code in result.removed:
        console.print(f"[red]- resource {code}[/]")
    for change in result.changed:
        console.print(f"[yellow]~ resource {change.code}[/] {escape(change.name)}")
        for key, (a, b) in change.fields.items():
            console.print(escape(f"    {key}: {a!r} -> {b!r}"))
        for name in change.items_added:
            console.print(f"    [green]+ item {name}[/]")
        for name in change.items_removed:
            console.print(f"    [red]- item {name}[/]")
        for item in change.items_changed:
            parts = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in item.changes.items())
            console.print(escape(f"    ~ item {item.name}: {parts}"))
    for code, a, b in result.sharing_changes:
        console.print(f"[bold magenta]! sharing type of {code} changed: {a} -> {b}[/]")
