"""``govconnect check [PLUGIN]``: run the conformance kit on installed plugins, report per check.

The checks are the ones a plugin's tests run (``govconnect.testing.CHECKS``). Each connector is
checked on its sample legacy system when its plugin module exposes a ``conformance`` spec (a
:class:`~govconnect.testing.Conformance` or a list of them); otherwise on the legacy system its
configured settings reach, with no sample parameters (so query services that need some fail and
say what to add).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import typer
from rich.markup import escape

from .._exceptions import ConfigurationError, PluginError
from .._registry import Registry
from ..testing._conformance import CheckResult, Conformance, run_conformance
from ._common import console, handles_errors, print_json, registry

MARKS = {"passed": "[green]PASS[/]", "failed": "[bold red]FAIL[/]", "skipped": "[yellow]SKIP[/]"}


def register(root: typer.Typer) -> None:
    root.command("check")(check)


@handles_errors
def check(
    ctx: typer.Context,
    plugin: str | None = typer.Argument(
        None, help="Plugin (or connector) to check; every loaded plugin when omitted."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Run the standard conformance checks and print a pass/fail report; exit 1 on any failure."""
    reg = registry(ctx)
    specs, not_configured = conformance_specs(reg, plugin)
    load_errors = [e for e in reg.errors if plugin is None or e.plugin == plugin]
    results: list[CheckResult] = []
    for spec in specs:
        results.extend(run_conformance(spec))
    failures = sum(r.status == "failed" for r in results) + len(load_errors)
    if as_json:
        print_json(
            {
                "results": [_as_dict(r) for r in results],
                "load_errors": [{"plugin": e.plugin, "reason": e.reason} for e in load_errors],
                "failed": failures,
                "skipped": {name: "installed but not configured" for name in not_configured},
            }
        )
    else:
        _print_report(results, load_errors)
        for name in not_configured:
            console.print(
                f"  {MARKS['skipped']} {escape(name)}: installed but not configured and no "
                "sample legacy system declared; nothing was checked"
            )
    if failures:
        raise typer.Exit(1)


def conformance_specs(reg: Registry, plugin: str | None) -> tuple[list[Conformance], list[str]]:
    """The conformance spec of each connector of ``plugin`` (a plugin or connector name), and
    the connectors left out: no sample declared and nothing configures them, so checking them
    would only exercise (and create) the legacy system their defaults point at."""
    names = sorted(
        name
        for name, owner in reg.connector_plugin.items()
        if plugin is None or plugin in (owner, name)
    )
    if plugin is not None and not names and not any(e.plugin == plugin for e in reg.errors):
        known = ", ".join(sorted(set(reg.connector_plugin.values()))) or "none"
        raise ConfigurationError(f"no plugin or connector named {plugin!r} (loaded: {known})")
    specs, not_configured = [], []
    for name in names:
        cls = reg.connectors[name]
        declared = _declared_specs(reg.pm.get_plugin(reg.connector_plugin[name]))
        spec = next((s for s in declared if s.connector is cls), None)
        if spec is None and not reg.is_configured(name):
            not_configured.append(name)
            continue
        specs.append(spec or Conformance(cls, settings=reg.settings_for(name)))
    return specs, not_configured


def _declared_specs(module: Any) -> list[Conformance]:
    found = getattr(module, "conformance", None)
    if isinstance(found, Conformance):
        return [found]
    if isinstance(found, Iterable):
        return [s for s in found if isinstance(s, Conformance)]
    return []


def _as_dict(result: CheckResult) -> dict[str, Any]:
    return {
        "check": result.check,
        "target": result.target,
        "status": result.status,
        "detail": result.outcome.detail,
        "problems": [p.as_dict() for p in result.outcome.problems],
    }


def _print_report(results: list[CheckResult], load_errors: list[PluginError]) -> None:
    current = None
    for r in results:
        connector = r.target.split(".", 1)[0]
        if connector != current:
            console.print(f"\n[bold]{escape(connector)}[/]")
            current = connector
        detail = f" — {escape(r.outcome.detail)}" if r.outcome.detail else ""
        console.print(f"  {MARKS[r.status]} {r.check:<18} {escape(r.target)}{detail}")
        for p in r.outcome.problems:
            console.print(f"         [red]- {escape(str(p))}[/]")
    for e in load_errors:
        console.print(
            f"  {MARKS['failed']} plugin {escape(e.plugin)} failed to load: {escape(e.reason)}"
        )
    counts = {s: sum(r.status == s for r in results) for s in ("passed", "failed", "skipped")}
    counts["failed"] += len(load_errors)
    console.print(
        f"\n{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    )
