"""``govconnect demo``: the main job end to end on embedded defaults.

At this stage of the project the story is "a legacy system becomes a catalogued service": create
the household-registration sample database (SQLite), load the plugins, validate and export the
catalog, and answer a lookup the way another department would ask it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from .._exceptions import ConfigurationError
from .._export import export_catalog
from .._identity import mask_citizen_id
from .._registry import load_registry
from ._common import console, handles_errors, print_json

DEFAULT_DIR = Path(".govconnect/demo")


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)


@handles_errors
def demo(
    workdir: Path = typer.Option(DEFAULT_DIR, "--dir", help="Where the demo keeps its files."),
    residents: int = typer.Option(5000, "--residents", min=10, help="Size of the sample database."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON for scripts."),
) -> None:
    """Run the main job end to end on embedded defaults (SQLite, loopback)."""
    try:
        from govconnect_household import create_sample_database
    except ImportError:
        raise ConfigurationError(
            "the demo needs the household plugin: pip install -e plugins/govconnect-household"
        ) from None

    started = time.perf_counter()
    workdir.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{workdir / 'household.sqlite'}"
    created = create_sample_database(url, count=residents)
    reg = load_registry(config={"connectors": {"household": {"url": url}}})
    problems = reg.catalog_problems()
    catalog = reg.catalog()
    exports: dict[str, str] = {}
    for fmt, suffix in (
        ("json", "json"),
        ("openapi", "openapi.json"),
        ("csv", "csv"),
        ("dcat", "dcat.jsonld"),
    ):
        path = workdir / f"catalog.{suffix}"
        path.write_text(export_catalog(fmt, catalog, reg.services()), encoding="utf-8")
        exports[fmt] = str(path)
    with reg.connector("household") as household:
        sample = next(iter(household.run("residents")))
        (found,) = household.run("resident", {"citizen_id": sample.citizen_id})
        population = list(household.run("population"))
    summary: dict[str, Any] = {
        "plugins": sorted(name for name, _ in reg.pm.list_name_plugin()),
        "load_errors": [str(e) for e in reg.errors],
        "connectors": sorted(reg.connectors),
        "residents_created": created,
        "resources": [r.code for r in catalog.resources],
        "information_items": sum(len(r.items) for r in catalog.resources),
        "catalog_problems": [str(p) for p in problems],
        "exports": exports,
        "lookup": {"citizen_id": mask_citizen_id(found.citizen_id), "found": True},
        "districts": len(population),
        "elapsed_seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        print_json(summary)
    else:
        _print_summary(reg, summary)
    if problems or reg.errors:
        raise typer.Exit(1)


def _print_summary(reg: Any, summary: dict[str, Any]) -> None:
    console.rule("govconnect demo")
    table = Table(title="Connectors and their catalogued services")
    for col in ("connector", "service", "kind", "resource code", "name", "sharing", "update"):
        table.add_column(col, no_wrap=col == "resource code")
    for svc in reg.services():
        r = svc.resource
        table.add_row(
            svc.connector.name,
            svc.name,
            svc.kind,
            r.code,
            r.name,
            r.sharing.type.value,
            r.update_cycle.value,
        )
    console.print(table)
    console.print(
        f"sample legacy database: {summary['residents_created']} residents; "
        f"catalog: {len(summary['resources'])} resources, {summary['information_items']} "
        f"classified information items, {len(summary['catalog_problems'])} problems"
    )
    console.print(f"lookup of {summary['lookup']['citizen_id']}: found")
    console.print("exports: " + json.dumps(summary["exports"], ensure_ascii=False))
    console.print(f"done in {summary['elapsed_seconds']} s")
