"""What every command shares: consoles, the registry from ``--config``, error translation."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from .._config import load_config
from .._exceptions import GovConnectError
from .._registry import Registry, load_registry

__all__ = ["console", "err_console", "handles_errors", "print_json", "registry"]

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(fn: F) -> F:
    """Turn a govconnect error into a one-line message on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except GovConnectError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def registry(ctx: typer.Context) -> Registry:
    """The registry for this invocation (loaded once, honouring the root ``--config``)."""
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    if "registry" not in obj:
        obj["registry"] = load_registry(config=load_config(obj.get("config")))
        root.obj = obj
    return obj["registry"]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
