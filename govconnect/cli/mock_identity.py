"""``govconnect mock-identity``: the mock authentication center in the foreground, for manual testing.

It prints its issuer URL, the ``[[issuers]]`` table a gateway file needs to trust it, and a token
for each test officer (valid for an hour; issued to ``--client-id`` when given, so a consumer
that declares that client id takes it); officers can also log in at ``POST /token``
(``grant_type=password``, any password, ``client_id`` for the tokens' ``azp``). Keys live in memory until stopped (Ctrl-C).
"""

from __future__ import annotations

import typer
import uvicorn
from rich.console import Console

from .._exceptions import ConfigurationError
from ..testing._mock_identity import DEFAULT_AUDIENCE, MockIdentityCenter
from ._common import handles_errors, listen

__all__ = ["mock_identity", "register"]


@handles_errors
def mock_identity(
    port: int = typer.Option(8950, "--port", "-p", help="Port on 127.0.0.1 (0: any free port)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    audience: str = typer.Option(DEFAULT_AUDIENCE, "--audience", help="The tokens' `aud`."),
    algorithm: str = typer.Option("RS256", "--algorithm", help="RS256 or ES256."),
    officer: list[str] = typer.Option(
        ["zhangsan=11010500001:最低生活保障审核员"],
        "--officer",
        help="A test officer, NAME=DEPARTMENT[:ROLE,ROLE]; repeat for more.",
    ),
    client_id: str | None = typer.Option(
        None, "--client-id", help="The printed tokens' `azp`: the consumer system they are for."
    ),
) -> None:
    """Run the mock unified identity authentication center (a real OIDC issuer) until interrupted."""
    if algorithm not in ("RS256", "ES256"):
        raise typer.BadParameter("RS256 or ES256", param_hint="--algorithm")
    try:
        center = MockIdentityCenter(host=host, port=port, audience=audience, algorithm=algorithm)
    except ImportError:
        raise ConfigurationError("the mock identity center needs govconnect[oidc]") from None
    for item in officer:
        name, sep, rest = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(
                f"NAME=DEPARTMENT[:ROLES], got {item!r}", param_hint="--officer"
            )
        department, _, roles = rest.partition(":")
        center.add_user(
            name, department=department or None, roles=[r for r in roles.split(",") if r]
        )
    sock = listen(center.bind, "the mock identity center", host, port)
    console = Console()
    console.print(f"[bold]mock identity center[/] listening on {center.url}")
    console.print("gateway file:")
    console.print(
        f'  [[issuers]]\n  issuer = "{center.issuer}"\n  audience = ["{audience}"]',
        markup=False,
    )
    if client_id:
        console.print(f'  # and the consumer: client_ids = ["{client_id}"]', markup=False)
    for name in center.users:
        console.print(f"token of {name} (1 h):", markup=False)
        minted = center.token(name, expires_in=3600, azp=client_id or None)
        console.print(minted, markup=False, soft_wrap=True)
    console.print("send it as 'X-Officer-Token: <token>'; press Ctrl-C to stop", markup=False)
    console.file.flush()
    uvicorn.Server(center.config()).run(sockets=[sock])


def register(root: typer.Typer) -> None:
    root.command("mock-identity")(mock_identity)
