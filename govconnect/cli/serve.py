"""``govconnect serve`` and ``govconnect gateway …``: run the department gateway, manage its config.

The gateway file (TOML or YAML) holds the consumers and their grants; see ``docs/gateway.md`` and
``examples/gateway.toml``. Uvicorn's access log is switched off: query strings carry citizen IDs,
and the gateway's own audit log records every call with a digest of its parameters instead.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from .._config import Config, load_config
from .._exceptions import ConfigurationError
from ..exchange.outbox.store import is_postgres_url
from ..gateway.policy import generate_token, hash_token, load_gateway_config
from ._common import (
    console,
    err_console,
    handles_errors,
    listen,
    note_not_configured,
    print_json,
    registry,
    remember_secrets,
)

gateway_app = typer.Typer(help="Configure the department gateway.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.command("serve")(serve)
    root.add_typer(gateway_app, name="gateway")


def gateway_file(path: Path | None, config: Config) -> str | Path:
    """The gateway file from ``--config``, else ``[gateway] config`` of govconnect.toml."""
    chosen = path or config.section("gateway").get("config")
    if not chosen:
        raise ConfigurationError(
            "no gateway config: pass --config FILE (TOML or YAML with [[consumers]]), "
            "or set [gateway] config = FILE in govconnect.toml"
        )
    return chosen


AUDIT_LOG_ENV = "GOVCONNECT_AUDIT_LOG"
_WORKER_SPEC_ENV = "GOVCONNECT_SERVE_WORKER"
"""Where a worker process of ``serve --workers N`` finds what it builds its gateway from (the path
of a JSON file of the parent's, mode 0600: the audit and outbox URLs stay out of the
environment; set by the parent for the processes it starts, never read otherwise)."""


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
    audit_log: str | None = typer.Option(
        None,
        "--audit-log",
        envvar=AUDIT_LOG_ENV,
        help="Audit log: a SQLite file, or a PostgreSQL URL (postgresql://user@host/db) that "
        "several gateway processes share (default: from the gateway file or state dir).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        max=64,
        help="Worker processes (uvicorn); more than 1 needs the audit log on PostgreSQL.",
    ),
    outbox: str | None = typer.Option(
        None,
        "--outbox",
        envvar="GOVCONNECT_OUTBOX",
        help="The department's outbox, whose depth, oldest pending record and dead letters "
        "/metrics then exports (a SQLite file or a PostgreSQL URL).",
    ),
    log_level: str = typer.Option("info", "--log-level", help="Uvicorn log level."),
) -> None:
    """Serve the loaded connectors' query services to the consumers of the gateway file."""
    import uvicorn

    from ..gateway.app import Gateway

    reg = registry(ctx)
    gw_file = gateway_file(config, reg.config)
    gw_config = load_gateway_config(gw_file)
    audit = audit_log or gw_config.gateway.audit_log or str(reg.config.state_dir / "audit.sqlite")
    if workers > 1 and not is_postgres_url(audit):
        raise ConfigurationError(
            f"--workers {workers} needs the audit log on PostgreSQL (--audit-log "
            f"postgresql://… or ${AUDIT_LOG_ENV}): worker processes append to one hash chain, "
            f"and the SQLite audit log {audit!r} serves one process"
        )
    # connectors configured by govconnect.toml, the environment or the gateway file are served;
    # an installed one nobody configured is named and left out (its defaults reach nothing)
    configured = [n for n in reg.connectors if reg.is_configured(n) or n in gw_config.connectors]
    for name in sorted(set(reg.connectors) - set(configured)):
        note_not_configured(name)
    # bound before the gateway opens anything: a busy port is one line and exit 1 (uvicorn on
    # its own logs the failure and exits 3, the code that means "drift found" elsewhere)
    sock = listen(lambda: _bind(host, port), "the gateway", host, port)
    try:  # with workers, built here only to fail early and in one line: each worker builds its own
        gateway = Gateway(reg.restricted(configured), gw_config, audit=audit, outbox=outbox)
    except BaseException:
        sock.close()
        raise
    bound_host, bound_port = sock.getsockname()[:2]
    processes = f", {workers} worker processes" if workers > 1 else ""
    err_console.print(
        f"serving {len(gateway.services)} service(s) to {len(gateway.policy.consumers)} "
        f"consumer(s) on http://{bound_host}:{bound_port} (audit log {gateway.audit.path}"
        f"{processes})"
    )
    if workers == 1:
        try:
            settings = uvicorn.Config(gateway.app, log_level=log_level, access_log=False)
            uvicorn.Server(settings).run(sockets=[sock])
        finally:
            gateway.close()
            sock.close()
        return
    gateway.close()  # each worker builds its own
    spec = {
        "config": _root_config(ctx),
        "gateway": str(Path(gw_file).resolve()),
        "connectors": configured,
        "audit": audit,
        "outbox": outbox,
    }
    spec_file = _write_spec(spec)
    os.environ[_WORKER_SPEC_ENV] = str(spec_file)  # the spawned workers inherit the path only
    settings = uvicorn.Config(
        f"{__name__}:worker_app",
        factory=True,
        workers=workers,
        log_level=log_level,
        access_log=False,
    )
    try:
        _run_workers(settings, sock)
    finally:
        sock.close()
        os.environ.pop(_WORKER_SPEC_ENV, None)
        spec_file.unlink(missing_ok=True)


def _write_spec(spec: dict[str, Any]) -> Path:
    """The workers' spec in a file only this user may read (``mkstemp``: mode 0600), removed
    when ``serve`` ends. Its URLs may carry passwords: in the environment they would reach every
    process the workers start, and anyone who may read their ``/proc/<pid>/environ``."""
    fd, name = tempfile.mkstemp(prefix="govconnect-serve-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(spec, fh)
    return Path(name)


def _run_workers(settings: Any, sock: socket.socket) -> None:
    """Run uvicorn's process supervisor: ``settings.workers`` processes share ``sock``, each
    restarted if it dies; SIGINT or SIGTERM stops them all."""
    from uvicorn.supervisors import Multiprocess

    Multiprocess(settings, sockets=[sock]).run()


def worker_app() -> Any:
    """The ASGI app of one worker process of ``serve --workers N`` (uvicorn's factory): the
    same registry, gateway file, audit log and outbox as the parent that started it."""
    from .._registry import load_registry
    from ..gateway.app import Gateway

    spec = json.loads(Path(os.environ[_WORKER_SPEC_ENV]).read_text(encoding="utf-8"))
    reg = load_registry(config=load_config(spec["config"]))
    remember_secrets(reg)
    gateway = Gateway(
        reg.restricted(spec["connectors"]),
        load_gateway_config(spec["gateway"]),
        audit=spec["audit"],
        outbox=spec["outbox"],
    )
    atexit.register(gateway.close)
    return gateway.app


def _root_config(ctx: typer.Context) -> str | None:
    """The root ``--config`` (govconnect.toml) this invocation was given, for the workers."""
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    chosen = obj.get("config")
    return str(Path(chosen).resolve()) if chosen else None


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
