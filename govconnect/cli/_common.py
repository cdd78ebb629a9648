"""What every command shares: consoles, the registry from ``--config``, error translation."""

from __future__ import annotations

import errno
import functools
import json
import signal
import socket
import sqlite3
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import SecretBytes, SecretStr
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .._config import MASK, load_config, mask_url_passwords, url_passwords
from .._exceptions import GovConnectError, describe_cause
from .._registry import Registry, load_registry

__all__ = [
    "console",
    "describe_fault",
    "err_console",
    "handles_errors",
    "key_column",
    "listen",
    "note_not_configured",
    "print_json",
    "registry",
    "remember_secrets",
    "report_error",
    "scrub",
    "scrubbed_stderr",
    "set_verbose",
    "stopping_on_signals",
    "verbose",
    "write_output",
]

_secrets: set[str] = set()


class _ScrubbedStream:
    """stdout or stderr (looked up at each write, so test runners can swap them) with every
    known secret value replaced by a mask. The last line of defence: secrets are masked where
    settings are shown, but a driver's message or a traceback could still quote one."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def _stream(self) -> Any:
        return getattr(sys, self._name)

    def write(self, text: str) -> int:
        return self._stream.write(scrub(text))

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


def scrub(text: str) -> str:
    """``text`` with the values of secret settings (and passwords inside URLs) masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return mask_url_passwords(text)


def remember_secrets(reg: Registry) -> None:
    """Collect the secret values this invocation could print, from every connector's settings."""
    for name in reg.connectors:
        for setting in reg.settings_of(name):
            value = setting.value
            if isinstance(value, SecretStr | SecretBytes):
                value = value.get_secret_value()
            if setting.secret and value is not None and len(str(value)) >= 4:
                _secrets.add(str(value))
            if isinstance(value, str):
                _secrets.update(p for p in url_passwords(value) if len(p) >= 4)


scrubbed_stderr = _ScrubbedStream("stderr")
console = Console(file=_ScrubbedStream("stdout"), highlight=False, soft_wrap=True)
err_console = Console(file=scrubbed_stderr, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


_verbose = False


def set_verbose(on: bool) -> None:
    """Remember the root ``-v``/``--verbose`` for this invocation (the root callback calls it)."""
    global _verbose
    _verbose = on


def verbose() -> bool:
    """Whether ``-v``/``--verbose`` was given: then errors carry their traceback."""
    return _verbose


def describe_fault(exc: BaseException) -> str | None:
    """An operational fault of this machine in words that are safe to print, or ``None``.

    A full disk, a read-only or missing folder, a busy port: the operator can fix these, so the
    line says what the system said and where (the file an ``OSError`` names). Their texts are the
    operating system's and SQLite's own (``database or disk is full``), never a legacy driver's,
    so they carry no connection string, SQL or value. SQLite errors raised through SQLAlchemy (a
    legacy database) are not matched: those reach here wrapped, as a ``ConnectorError``.
    """
    if isinstance(exc, OSError):
        code = errno.errorcode.get(exc.errno or 0)
        what = exc.strerror or describe_cause(exc)
        where = f": {exc.filename}" if exc.filename else ""
        return f"{what}{f' ({code})' if code else ''}{where}"
    if isinstance(exc, sqlite3.Error):
        return f"{exc} ({describe_cause(exc)})"
    return None


def report_error(exc: BaseException, prefix: str = "error") -> None:
    """One line on stderr for a failure; with ``-v`` the traceback follows.

    Our errors print their message (with any URL password masked: settings end up in messages).
    An operational fault (disk full, read-only file, busy port) prints the system's own words
    (:func:`describe_fault`). Anything else — a driver, a bug — prints only its class: foreign
    messages carry connection strings, SQL and parameter values, which must not reach a terminal
    or a CI log.
    """
    fault = None if isinstance(exc, GovConnectError) else describe_fault(exc)
    if isinstance(exc, GovConnectError):
        message = mask_url_passwords(str(exc))
    elif fault is not None:
        message = mask_url_passwords(fault)
    else:
        message = f"unexpected {describe_cause(exc)}"
    hint = "" if verbose() else " (run with -v for the traceback)"
    if not isinstance(exc, GovConnectError) or exc.__cause__ is not None:
        message += hint
    err_console.print(f"[bold red]{escape(prefix)}:[/] {escape(message)}", highlight=False)
    if verbose():
        err_console.print("".join(traceback.format_exception(exc)), markup=False, highlight=False)


def note_not_configured(name: str) -> None:
    """Tell (on stderr) that an installed connector was skipped because nothing configures it."""
    hint = f"[connectors.{name}] in govconnect.toml, or GOVCONNECT_{name.upper()}_<SETTING>"
    err_console.print(
        f"[yellow]skipped {escape(name)}:[/] installed but not configured ({escape(hint)})"
    )


def handles_errors(fn: F) -> F:
    """Turn any failure into a one-line message on stderr and exit code 1 (``-v``: traceback).

    Every command that reaches connector code is wrapped, so an operational fault of a legacy
    system (a missing table, a refused connection) never prints a Python traceback by default.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.TyperException, KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:
            report_error(exc)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def listen(bind: Callable[[], socket.socket], what: str, host: str, port: int) -> socket.socket:
    """Bind ``what``'s listening socket before serving, so a busy port or a bad interface is one
    line naming the address (exit 1), not a server's startup log and a stack trace."""
    try:
        return bind()
    except OSError as exc:
        reason = describe_fault(exc) or describe_cause(exc)
        raise GovConnectError(f"{what} cannot listen on {host}:{port}: {reason}") from exc


def key_column(table: Table, header: str, keys: Iterable[str], **options: Any) -> None:
    """Add the column that identifies a row (a resource code, a service id): never wrapped and
    never cut to ``…``, however narrow the terminal — the other columns give way (give them
    ``overflow="fold"`` so they wrap rather than lose text)."""
    width = max([cell_len(header), *(cell_len(k) for k in keys)])
    table.add_column(header, no_wrap=True, min_width=width, **options)


def write_output(path: Path, text: str) -> None:
    """Write ``-o FILE`` whole or not at all (a temp file renamed over it), except where ``path``
    is not a regular file: ``/dev/stdout``, a FIFO, ``/dev/full`` are written to directly — a
    rename would replace the device itself with a plain file."""
    try:
        if path.exists() and not path.is_file() and not path.is_dir():
            with path.open("w", encoding="utf-8") as fh:
                fh.write(text)
            return
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # a full disk, a folder where the file goes: name the file
        raise GovConnectError(f"cannot write {path}: {describe_fault(exc)}") from exc


def registry(ctx: typer.Context) -> Registry:
    """The registry for this invocation (loaded once, honouring the root ``--config``)."""
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    if "registry" not in obj:
        obj["registry"] = load_registry(config=load_config(obj.get("config")))
        remember_secrets(obj["registry"])
        root.obj = obj
    return obj["registry"]


def print_json(data: Any) -> None:
    sys.stdout.write(scrub(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n"))


@contextmanager
def stopping_on_signals(stop: threading.Event, *, enabled: bool = True) -> Iterator[None]:
    """SIGTERM and SIGINT set ``stop`` instead of killing the process: a service (``outbox
    drain --follow``, ``intake run``) finishes what it has in hand and exits cleanly, the way
    systemd stops it. Off the main thread (no handler can be set there) it does nothing."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:
        signal.signal(sig, lambda signum, frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
