"""``govconnect serve`` and ``govconnect gateway …``: run the department gateway, manage its config.

The gateway file (TOML or YAML) holds the consumers and their grants; see ``docs/gateway.md`` and
``examples/gateway.toml``. Uvicorn's access log is switched off: query strings carry citizen IDs,
and the gateway's own audit log records every call with a digest of its parameters instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .._config import Config
from .._exceptions import ConfigurationError
from ..gateway.policy import GatewayConfig, generate_token, hash_token, load_gateway_config
from ._common import console, err_console, handles_errors, note_not_configured, registry

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
    port: int = typer.Option(8800, "--port", min=0, max=65535, help="TCP port."),
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
    gateway = Gateway(reg.restricted(configured), gw_config, audit=audit_log)
    err_console.print(
        f"serving {len(gateway.services)} service(s) to {len(gateway.policy.consumers)} "
        f"consumer(s) on http://{host}:{port} (audit log {gateway.audit.path})"
    )
    try:
        uvicorn.run(gateway.app, host=host, port=port, log_level=log_level, access_log=False)
    finally:
        gateway.close()


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
    """Print the hash of an API token for ``token_hashes`` (the token is read from stdin)."""
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
) -> None:
    """Check a gateway file against the loaded services; list each consumer's grant."""
    from ..gateway.policy import Policy

    reg = registry(ctx)
    services = [s for s in reg.services() if s.kind == "query"]
    loaded = load_gateway_config(config)
    policy = Policy(loaded, services)
    if loaded.issuers:
        trusted = ", ".join(i.issuer for i in loaded.issuers)
        default = loaded.gateway.officer_default or "above_internal"
        console.print(f"officers: verified (issuers {trusted}); required: {default} by default")
    else:
        err_console.print(
            "[yellow]warning:[/] no [[issuers]]: officers are only claimed (X-Handling-Officer), "
            "never verified; add the authentication center (docs/authentication.md)",
            highlight=False,
        )
    for consumer in policy.consumers:
        granted = [s.id for s in services if policy.may_call(consumer, s)]
        console.print(
            f"{consumer.id} ({consumer.name}): level {consumer.max_level.value}, personal "
            f"{'unmasked' if consumer.personal_unmasked else 'masked'}, "
            f"services: {', '.join(granted) or 'none'}"
        )
