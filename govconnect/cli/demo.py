"""``govconnect demo``: the main job end to end on embedded defaults (see govconnect.cli.story)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ..testing._mock_state import FAULT_PROFILES
from ._common import console, handles_errors, print_json
from .story import run_demo

DEFAULT_DIR = Path(".govconnect/demo")


def register(root: typer.Typer) -> None:
    root.command("demo")(demo)


@handles_errors
def demo(
    workdir: Path = typer.Option(
        DEFAULT_DIR, "--dir", help="Where the demo keeps its files (recreated)."
    ),
    cases: int = typer.Option(300, "--cases", min=1, help="Applications filed at the one window."),
    invalid: int = typer.Option(30, "--invalid", min=0, help="How many of them are flawed."),
    residents: int = typer.Option(5000, "--residents", min=10, help="Size of the legacy database."),
    faults: str = typer.Option("flaky", "--faults", help="Mock platform fault profile."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON for scripts."),
) -> None:
    """Citizens apply once; cases reach the legacy system without re-entry; statuses flow back."""
    if faults not in FAULT_PROFILES:
        raise typer.BadParameter(
            f"choose one of {', '.join(FAULT_PROFILES)}", param_hint="--faults"
        )
    if invalid > cases:
        raise typer.BadParameter("--invalid cannot exceed --cases", param_hint="--invalid")

    def step(message: str) -> None:
        if not as_json:
            console.print(f"[bold cyan]•[/] {message}")

    if not as_json:
        console.rule("govconnect demo")
    summary = run_demo(
        workdir, cases=cases, invalid=invalid, residents=residents, faults=faults, progress=step
    )
    if as_json:
        print_json(summary)
    else:
        _print(summary)
    if summary["catalog_problems"] or summary["cases_deferred"]:
        raise typer.Exit(1)


def _print(s: dict[str, Any]) -> None:
    table = Table(title="What happened")
    table.add_column("")
    table.add_column("", justify="right")
    for label, key in (
        ("residents in the legacy database", "residents_in_legacy_db"),
        ("catalogued resources registered", "catalog_registered"),
        ("cases submitted at the window", "cases_submitted"),
        ("written to the legacy system", "cases_written_to_legacy"),
        ("returned with reasons", "cases_returned_with_reasons"),
        ("acknowledged to the platform", "cases_acknowledged"),
        ("status changes delivered", "statuses_delivered"),
        ("platform faults survived", "platform_faults_survived"),
        ("outbox retries", "outbox_retries"),
        ("fields a clerk did not re-type", "fields_not_retyped"),
        ("elapsed seconds", "elapsed_seconds"),
    ):
        table.add_row(label, str(s[key]))
    console.print(table)
    console.print(
        "returned by rule: " + ", ".join(f"{k} {v}" for k, v in s["returned_by_rule"].items())
    )
    console.print(
        "final statuses: " + ", ".join(f"{k} {v}" for k, v in s["final_status_counts"].items())
    )
    if s.get("gateway_refused_by_rule") is not None:
        _print_officers(s)
    if s.get("crosscheck_found") is not None:
        found = ", ".join(f"{k} {v}" for k, v in s["crosscheck_found"].items()) or "none"
        planted = ", ".join(f"{k} {v}" for k, v in s["crosscheck_planted"].items())
        console.print(
            f"cross-check household ↔ civil affairs ({s['crosscheck_people']} people): "
            f"conflicts found {found} (planted {planted}); "
            f"{s.get('crosscheck_notices_sent', 0)} correction notices sent"
        )
    console.print("catalog exports: " + ", ".join(s["exports"].values()))


_WHY = {
    "officer.client": " (a token issued to another system)",
    "officer.department": " (an officer of another department)",
}


def _print_officers(s: dict[str, Any]) -> None:
    """The gateway chapter: who looked residents up, verified by whom, and what was refused."""
    refused = s["gateway_refused_by_rule"]
    console.print(
        f"gateway: {s['gateway_lookups_by_verified_officers']} lookups by verified officers "
        "(issuer: the mock authentication center on 127.0.0.1); "
        f"{sum(refused.values())} refused: "
        + ", ".join(f"{rule} {n}{_WHY.get(rule, '')}" for rule, n in refused.items())
    )
    calls = []
    for who, outcomes in s["audit_calls_by_officer"].items():
        total = sum(outcomes.values())
        note = f" ({outcomes['refused']} refused)" if outcomes.get("refused") else ""
        calls.append(f"{who} {total}{note}")
    intact = "intact" if s["audit_chain_intact"] else "BROKEN"
    console.print(
        f"audit: {s['audit_calls_by_verified_officers']} calls by verified officers, chain "
        f"{intact}; audit find --officer: " + ", ".join(calls)
    )
