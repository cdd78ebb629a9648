"""``govconnect plugins``: what is loaded, from where, and what failed to load."""

from __future__ import annotations

import typer
from rich.table import Table

from ._common import console, handles_errors, key_column, print_json, registry


def register(root: typer.Typer) -> None:
    root.command("plugins")(plugins)


@handles_errors
def plugins(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON for scripts."),
) -> None:
    """List plugins, their connectors and services, and plugins that failed to load."""
    reg = registry(ctx)
    plugin_rows = [
        {"plugin": name, "origin": reg.pm.origins.get(name, "?")}
        for name, _ in reg.pm.list_name_plugin()
    ]
    connectors = [
        {
            "connector": name,
            "plugin": reg.connector_plugin[name],
            "department": f"{cls.department.code} {cls.department.name}",
            "system": f"{cls.system.code} {cls.system.name}",
            "configured": reg.is_configured(name),
            "services": [
                {"service": s.name, "kind": s.kind, "code": s.code, "name": s.resource.name}
                for s in cls.services().values()
            ],
        }
        for name, cls in sorted(reg.connectors.items())
    ]
    errors = [{"plugin": e.plugin, "reason": e.reason} for e in reg.errors]
    if as_json:
        # load_errors, as `check --json` calls them; errors is the old key, kept for scripts
        doc = {"plugins": plugin_rows, "connectors": connectors, "load_errors": errors}
        print_json({**doc, "errors": errors})
        raise typer.Exit(1 if errors else 0)

    table = Table(title="Plugins")
    table.add_column("plugin")
    table.add_column("origin")
    for row in plugin_rows:
        table.add_row(row["plugin"], row["origin"])
    console.print(table)

    table = Table(title="Connectors and services")
    key_column(table, "connector", [c["connector"] for c in connectors])
    for col in ("plugin", "department", "system", "service", "kind"):
        table.add_column(col, overflow="fold")
    key_column(table, "resource code", [s["code"] for c in connectors for s in c["services"]])
    for c in connectors:
        for i, s in enumerate(c["services"]):
            head = (
                (c["connector"], c["plugin"], c["department"], c["system"]) if i == 0 else ("",) * 4
            )
            table.add_row(*head, s["service"], s["kind"], s["code"])
    console.print(table)

    if errors:
        table = Table(title="Load errors", style="red")
        table.add_column("plugin")
        table.add_column("reason")
        for e in errors:
            table.add_row(e["plugin"], e["reason"])
        console.print(table)
        raise typer.Exit(1)
