"""The ``govconnect`` command line.

Each command group lives in its own module of this package and exposes ``register(root)``; the
modules are listed once in ``COMMAND_MODULES``. Plugins add commands through the
``register_commands`` hook. Exit codes: 0 ok, 1 failure, 2 usage error.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import typer

__all__ = ["COMMAND_MODULES", "app", "main"]

COMMAND_MODULES = [
    "govconnect.cli.plugins",
    "govconnect.cli.catalog",
    "govconnect.cli.discover",
    "govconnect.cli.demo",
    "govconnect.cli.intake",
    "govconnect.cli.publish",
    "govconnect.cli.outbox",
    "govconnect.cli.mock_platform",
    "govconnect.cli.mock_identity",
    "govconnect.cli.check",
    "govconnect.cli.new",
    "govconnect.cli.serve",
    "govconnect.cli.audit",
    "govconnect.cli.config",
    "govconnect.cli.crosscheck",
]

app = typer.Typer(
    name="govconnect",
    help="Connect departmental legacy systems to the data-exchange and unified intake platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_built = False

_TYPE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "path": "PATH", "bool": ""}


def _clean_help_types() -> None:
    """Help that reads like a mature CLI: flags show no ``<bool>`` placeholder, values show
    click's ``TEXT``/``INTEGER``/``PATH`` instead of Python's ``<str>``/``<int>``.

    Typer (0.2x) renders each parameter's Python type in angle brackets; the patch is done once
    here, on typer's own hook, and is a no-op if a later typer renames it (the help would only
    look as before). ``tests/test_cli_consistency.py`` reads every command's help for them.
    """
    core = getattr(typer, "core", None)
    base = getattr(core, "_TyperParameter", None)
    option = getattr(core, "TyperOption", None)
    if base is None or option is None or getattr(base, "_govconnect_clean", False):
        return
    python_type = base.display_type

    def display_type(self: Any, ctx: Any) -> str:
        shown = python_type(self, ctx)
        inner = shown[1:-1] if shown.startswith("<") and shown.endswith(">") else shown
        if inner.startswith("list[") and inner.endswith("]"):
            inner = inner[5:-1]
        return _TYPE_NAMES.get(inner, inner.upper() if inner.isidentifier() else inner)

    option_type = option.display_type_rich

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None  # --json, --all: a flag takes no value
        return option_type(self, ctx) or None

    base.display_type = display_type
    option.display_type_rich = display_type_rich
    base._govconnect_clean = True


@app.callback()
def root(
    ctx: typer.Context,
    config: str | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Config file (default: $GOVCONNECT_CONFIG or ./govconnect.toml).",
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log retries and exchanges; print tracebacks of errors."
    ),
) -> None:
    """Connect departmental legacy systems to the data-exchange and unified intake platforms."""
    from ._common import scrubbed_stderr, set_verbose

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=scrubbed_stderr,  # log lines are output too: no secret in them either
    )
    set_verbose(verbose)  # errors print their traceback only with -v (also: "Log retries…")
    ctx.obj = {"config": config}


def build() -> typer.Typer:
    """Attach every command group and plugin command to the root app (once)."""
    global _built
    if not _built:
        _clean_help_types()
        for name in COMMAND_MODULES:
            importlib.import_module(name).register(app)
        from .._registry import plugin_commands

        commands, groups = len(app.registered_commands), len(app.registered_groups)
        plugin_commands(app)
        _guard_plugin_commands(app, commands, groups)
        _built = True
    return app


def _guard_plugin_commands(root: typer.Typer, commands: int, groups: int) -> None:
    """Wrap the commands plugins added (from index ``commands``/``groups`` on) in
    ``handles_errors``: a plugin's ``household seed --url notaurl`` is one line and exit 1 like
    ours, not a traceback; plugin authors need not remember to."""
    from ._common import handles_errors

    def guard(typer_app: typer.Typer, start_commands: int, start_groups: int) -> None:
        for info in typer_app.registered_commands[start_commands:]:
            if info.callback is not None and not getattr(info.callback, "_govconnect_guarded", 0):
                info.callback = handles_errors(info.callback)
                info.callback._govconnect_guarded = True  # type: ignore[attr-defined]
        for group in typer_app.registered_groups[start_groups:]:
            if group.typer_instance is not None:
                guard(group.typer_instance, 0, 0)

    guard(root, commands, groups)


def main() -> None:
    build()(prog_name="govconnect")
