"""``govconnect config show``: the settings each connector will really run with, and from where.

Configuration comes from three places (environment over file over default, see
``govconnect/_config.py``); when a value is not the one expected, the question is always "which
one won?". This command answers it without ever printing a secret: secret settings are masked,
and so is any password written into a URL.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from .._registry import Registry
from ._common import console, handles_errors, print_json, registry

config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(config_app, name="config")


def effective(reg: Registry, connector: str | None) -> dict[str, Any]:
    """The effective configuration as plain data: what ``--json`` prints and the table shows."""
    names = [connector] if connector else sorted(reg.connectors)
    return {
        "config_file": str(reg.config.path) if reg.config.path else None,
        "connectors": [
            {
                "connector": name,
                "configured": reg.is_configured(name),
                "settings": [
                    {
                        "setting": s.name,
                        "value": s.shown,
                        "source": s.source,
                        "secret": s.secret,
                        "env": s.env,
                    }
                    for s in reg.settings_of(name)
                ],
            }
            for name in names
        ],
    }


@config_app.command("show")
@handles_errors
def show(
    ctx: typer.Context,
    connector: str | None = typer.Argument(None, help="Only this connector."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON for scripts."),
) -> None:
    """Print each connector's effective settings with their source (default / file / env)."""
    reg = registry(ctx)
    if connector is not None:
        reg.connector_class(connector)  # an unknown name is an error naming the known ones
    data = effective(reg, connector)
    if as_json:
        print_json(data)
        return
    console.print(f"config file: {escape(data['config_file'] or 'none (embedded defaults)')}")
    console.print("precedence: environment > file > default")
    for c in data["connectors"]:
        state = "configured" if c["configured"] else "not configured: skipped by publish --all"
        console.print(f"\n[bold]{escape(c['connector'])}[/] ({state})")
        width = max((len(s["setting"]) for s in c["settings"]), default=0)
        for s in c["settings"]:
            value = "(not set)" if s["value"] is None else str(s["value"])
            where = f"env {s['env']}" if s["source"] == "env" else s["source"]
            secret = ", secret" if s["secret"] else ""
            console.print(
                f"  {escape(s['setting']):<{width}} = {escape(value)}  [dim]\\[{where}{secret}][/]"
            )
