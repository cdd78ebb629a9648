"""Hook specifications: every way a plugin can extend govconnect, in one place.

A plugin is a module (or object) with functions marked ``@hookimpl``::

    from govconnect import hookimpl

    @hookimpl
    def register_connectors():
        return [HouseholdConnector]

and is found through the ``govconnect`` entry-point group (or registered in-process with
``load_registry(plugins=[module])``). Hooks are called with keyword arguments only; an implementation
may accept fewer arguments than its spec, so specs can grow without breaking plugins. Hooks whose
name starts with ``register_`` return a list (or mapping) that the SDK merges over all plugins.

Each hook is documented in ``docs/plugin_hooks.md``; a test fails when one is missing there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import typer

    from ._connector import Connector
    from .catalog.codetables import CodeTable
    from .exchange.events import ExchangeEvent

PROJECT = "govconnect"
"""The one name shared by the hook markers, the plugin manager and the entry-point group."""

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --- registration: called once when the registry is loaded ---------------------------------------


@hookspec
def register_connectors() -> Sequence[type[Connector]]:
    """Contribute connector classes (subclasses of :class:`govconnect.Connector`).

    Called once per registry load. Each connector's services are validated as it is loaded; a
    connector with an invalid declaration is reported with the plugin's name and the reason, and
    every other connector still loads. Return a list (possibly empty).
    """


@hookspec
def register_code_tables() -> Sequence[CodeTable]:
    """Contribute code tables (national codes such as gender GB/T 2261.1, ethnicity GB/T 3304).

    Intake mappings and field transforms translate values through code tables by name. A later
    plugin's table with the same name replaces an earlier one, so a department can override a
    national table with its local variant. Return a list of :class:`govconnect.CodeTable`.
    """


@hookspec
def register_transforms() -> dict[str, Callable[..., Any]]:
    """Contribute named field transforms usable from declarative mappings.

    Return a mapping of name to a callable taking a value (and keyword options) and returning the
    transformed value. Names must be unique across plugins; a clash is a load error.
    """


@hookspec
def register_commands(cli: typer.Typer) -> None:
    """Add commands to the ``govconnect`` CLI.

    Called once when the CLI starts, with the root typer application. Plugins use it for tools that
    belong to one legacy system, such as seeding a sample database.
    """


# --- exchange: called while exchanges happen -------------------------------------------------------


@hookspec
def exchange_event(event: ExchangeEvent) -> None:
    """Observe one step in the life of an outgoing exchange.

    Called for every event (enqueued, sent, retried, delivered, dead-lettered, replayed) in the
    process that caused it. Every implementation receives every event; return values are ignored.
    An exception raised here is logged and swallowed: observation never breaks delivery.
    """


# --- discovery: called when a legacy database is discovered ---------------------------------------


@hookspec
def discovery_dictionary() -> Mapping[str, Any]:
    """Contribute entries to the abbreviation dictionary used by ``govconnect discover``.

    Return a mapping of column name (case-insensitive, e.g. ``"hjszd"``) to a
    :class:`govconnect.Term` (title, kind, code table) or a plain title string. (Typed ``Any``
    here: the framework sits below ``govconnect.discovery`` and does not import it.) Entries of later
    plugins override earlier ones, so a department can correct a built-in title.
    """


@hookspec
def register_detectors() -> Sequence[Any]:
    """Contribute detectors that look at a column's sampled values during discovery.

    Return a list of :class:`govconnect.Detector` objects: a ``name`` and a
    ``detect(column: ColumnEvidence)`` method that yields :class:`govconnect.Finding` objects. Reasons carry counts, never sampled values. A
    detector that raises is reported in the column's reasons (by name) and discovery goes on.
    """
