"""``govconnect serve`` and ``govconnect gateway …``: run the department gateway, manage its config.

The gateway file (TOML or YAML) holds the consumers and their grants; see ``docs/gateway.md`` and
``examples/gateway.toml``. Uvicorn's access log is switched off: query strings carry citizen IDs,
and the gateway's own audit log records every call with a digest of its parameters instead.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import typer
from rich.markup import escape

from .._config import Config
from .._exceptions import ConfigurationError
from ..gateway.policy import GatewayConfig, generate_token, hash_token, load_gateway_config
from ._common import (
    console,
    err_console,
    handles_errors,
    listen,
    note_not_configured,
    print_json,
    registry,
)

gateway_app = typer.Typer(help="Configure the department gateway.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
    root.add_typer(gateway_app, name="gateway")


def gateway_config(path: Path | None, config: Config) -> GatewayConfig:
    """The gateway file from ``--config``, else ``[gateway] config`` of govconnect.toml."""
    chosen = path or config.section("gateway").get("config")
    if not chosen:
        raise ConfigurationError(
            "no gateway config: pass --config FILE (TOML or YAML with [[consumers]]), "
            "or set [gateway] config = FILE in govconnect.toml"
        )
    return load_gateway_config(chosen)


@handles_errors
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(
        8800, "--port", "-p", min=0, max=65535, help="TCP port (0: any free port)."
    ),
    config: Path | None = typer.Option(
        None, "--config", help="Gateway file: consumers, grants, audit log (TOML or YAML)."
    ),
    audit_log: Path | None = typer.Option(
        None, "--audit-log", help="Audit log file (default: from the gateway file or state dir)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="Uvicorn log level."),
) -> None:
    """Serve the loaded connectors' query services to the consumers of the gateway file."""
    import uvicorn

    from ..gateway.app import Gateway

    reg = registry(ctx)
    gw_config = gateway_config(config, reg.config)
    # connectors configured by govconnect.toml, the environment or the gateway file are served;
    # an installed one nobody configured is named and left out (its defaults reach nothing)
    configured = [n for n in reg.connectors if reg.is_configured(n) or n in gw_config.connectors]
    for name in sorted(set(reg.connectors) - set(configured)):
        note_not_configured(name)
    # bound before the gateway opens anything: a busy port is one line and exit 1 (uvicorn on
    # its own logs the failure and exits 3, the code that means "drift found" elsewhere)
    sock = listen(lambda: _bind(host, port), "the gateway", host, port)
    try:
        gateway = Gateway(reg.restricted(configured), gw_config, audit=audit_log)
    except BaseException:
        sock.close()
        raise
    bound_host, bound_port = sock.getsockname()[:2]
    err_console.print(
        f"serving {len(gateway.services)} service(s) to {len(gateway.policy.consumers)} "
        f"consumer(s) on http://{bound_host}:{bound_port} (audit log {gateway.audit.path})"
    )
    try:
        config = uvicorn.Config(gateway.app, log_level=log_level, access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        gateway.close()
        sock.close()


def _bind(host: str, port: int) -> socket.socket:
    """The gateway's listening socket (IPv6 when ``host`` is an IPv6 address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


@gateway_app.command("hash-token")
@handles_errors
def hash_token_command(
    generate: bool = typer.Option(
        False, "--generate", help="Make a new random token; print it once, then its hash."
    ),
    algorithm: str | None = typer.Option(
        None, "--algorithm", help="sm3 (default where available) or sha256."
    ),
) -> None:
    """Print the hash of an API token for a consumer's token_hashes (the token is read from stdin)."""
    if generate:
        token = generate_token()
        err_console.print("token (give it to the consumer; it is not stored anywhere):")
        console.print(token)
    elif sys.stdin.isatty():
        token = typer.prompt("token", hide_input=True)
    else:
        token = sys.stdin.readline().strip()
    if not token:
        raise ConfigurationError("empty token")
    if generate:
        err_console.print("hash (put it in the consumer's token_hashes):")
    console.print(hash_token(token, algorithm))


@gateway_app.command("check")
@handles_errors
def check(
    ctx: typer.Context,
    config: Path = typer.Option(..., "--config", help="Gateway file to check."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON for scripts."),
) -> None:
    """Check a gateway file against the loaded services; list each consumer's grant."""
    from ..gateway.policy import Policy

    reg = registry(ctx)
    services = [s for s in reg.services() if s.kind == "query"]
    loaded = load_gateway_config(config)
    policy = Policy(loaded, services)
    issuers = [i.issuer for i in loaded.issuers]
    default = loaded.gateway.officer_default or "above_internal"
    warnings = [] if issuers else [_NO_ISSUERS]
    consumers = [
        {
            "consumer": consumer.id,
            "name": consumer.name,
            "max_level": consumer.max_level.value,
            "personal": "unmasked" if consumer.personal_unmasked else "masked",
            "services": [s.id for s in services if policy.may_call(consumer, s)],
        }
        for consumer in policy.consumers
    ]
    if as_json:
        officers = {"verified": bool(issuers), "issuers": issuers, "required_default": default}
        print_json(
            {
                "config": str(config),
                "officers": officers,
                "consumers": consumers,
                "warnings": warnings,
            }
        )
        return
    if issuers:
        console.print(
            f"officers: verified (issuers {', '.join(issuers)}); required: {default} by default"
        )
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
    for c in consumers:
        console.print(
            f"{c['consumer']} ({c['name']}): level {c['max_level']}, personal {c['personal']}, "
            f"services: {', '.join(c['services']) or 'none'}",
            markup=False,
        )


_NO_ISSUERS = (
    "no [[issuers]]: officers are only claimed (X-Handling-Officer), never verified; "
    "add the authentication center (docs/authentication.md)"
)
