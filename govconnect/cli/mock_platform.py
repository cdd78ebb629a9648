"""``govconnect mock-platform``: the mock exchange platform in the foreground, for manual testing.

It prints its URL and the token to use (bound to ``--node``: it reads that node's cases only),
keeps its bounded state in memory until stopped (Ctrl-C), answers ``GET /_mock/inspect`` so tests in
other processes or languages can count what arrived, and misbehaves as the chosen fault profile
says: ``none``, ``flaky`` or ``hostile``.
"""

from __future__ import annotations

import typer
import uvicorn
from rich.console import Console

from ..exchange.platform import NODE_PATTERN
from ..testing._mock_platform import DEFAULT_NODE, MockPlatform
from ..testing._mock_state import FAULT_PROFILES
from ._common import handles_errors, listen

__all__ = ["mock_platform", "register"]


@handles_errors
def mock_platform(
    port: int = typer.Option(8900, "--port", "-p", help="Port on 127.0.0.1 (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    faults: str = typer.Option(
        "none", "--faults", help=f"Fault profile: {', '.join(FAULT_PROFILES)}."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Seed the fault RNG, to reproduce a run."),
    token: str | None = typer.Option(
        None, "--token", envvar="GOVCONNECT_MOCK_TOKEN", help="Token to accept (default: random)."
    ),
    retry_after: float | None = typer.Option(
        None, "--retry-after", min=0, help="Seconds the platform asks throttled callers to wait."
    ),
    cases: int = typer.Option(0, "--cases", min=0, help="File this many sample cases at start."),
    node: str = typer.Option(
        DEFAULT_NODE, "--node", help="The node the token authenticates and sample cases are for."
    ),
) -> None:
    """Run the mock exchange platform (a real HTTP server) until interrupted."""
    if faults not in FAULT_PROFILES:
        raise typer.BadParameter(
            f"choose one of {', '.join(FAULT_PROFILES)}", param_hint="--faults"
        )
    if not NODE_PATTERN.match(node):
        raise typer.BadParameter(
            "{department_code}/{system_code}, e.g. 11010000000/intake", param_hint="--node"
        )
    platform = MockPlatform(faults=faults, seed=seed, token=token, host=host, port=port, node=node)
    if retry_after is not None:
        platform.set_faults(retry_after=retry_after)
    for n in range(1, cases + 1):
        platform.enqueue_case(case_id=f"SAMPLE-{n:04d}", node=node, applicant=f"applicant {n}")
    sock = listen(platform.bind, "the mock platform", host, port)
    console = Console()
    console.print(f"[bold]mock exchange platform[/] listening on {platform.url}")
    console.print(f"URL:    {platform.url}")
    console.print(f"token:  {platform.token}  (node {node})")
    console.print(f"faults: {faults} {platform.faults}")
    console.print(
        f"inspect: GET {platform.url}/_mock/inspect; other nodes' tokens: POST"
        f' {platform.url}/_mock/tokens {{"node": "D/S"}} (both with this token)'
    )
    console.print(f"{cases} sample case(s) filed for node {node}; press Ctrl-C to stop")
    console.file.flush()
    uvicorn.Server(platform.config()).run(sockets=[sock])


def register(root: typer.Typer) -> None:
    root.command("mock-platform")(mock_platform)
