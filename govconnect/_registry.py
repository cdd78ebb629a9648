"""The registry: everything the loaded plugins contribute, in one object.

``load_registry()`` builds the plugin manager, asks each plugin for its connectors, code tables and
transforms, validates every connector's services, and keeps what failed as load errors (with the
plugin's name and the reason) so the rest still works. The CLI, the gateway, the intake bridge and
the publisher all start from a registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ._config import Config, EffectiveSetting, effective_settings, is_configured, load_config
from ._connector import Connector, Service, connector_faults
from ._exceptions import (
    ConfigurationError,
    NotConfiguredError,
    PluginError,
    Problem,
    ServiceDefinitionError,
)
from ._plugins import PluginManager, make_plugin_manager
from .catalog.codetables import CodeTable
from .catalog.model import Catalog
from .exchange.events import ExchangeEvent

if TYPE_CHECKING:
    import typer

__all__ = ["Registry", "load_registry", "plugin_commands"]

log = logging.getLogger(__name__)


@dataclass
class Registry:
    """Loaded plugins, their connectors and services, code tables, transforms and load errors."""

    pm: PluginManager
    config: Config = field(default_factory=Config)
    connectors: dict[str, type[Connector]] = field(default_factory=dict)
    connector_plugin: dict[str, str] = field(default_factory=dict)
    code_tables: dict[str, CodeTable] = field(default_factory=dict)
    transforms: dict[str, Callable[..., Any]] = field(default_factory=dict)
    errors: list[PluginError] = field(default_factory=list)

    # --- queries ------------------------------------------------------------------------------

    def services(self, connector: str | None = None) -> list[Service]:
        """Every service of every loaded connector (or of one), ordered by resource code."""
        classes = [self.connector_class(connector)] if connector else self.connectors.values()
        found = [svc for cls in classes for svc in cls.services().values()]
        return sorted(found, key=lambda s: (s.code, s.qualified_name))

    def connector_class(self, name: str) -> type[Connector]:
        try:
            return self.connectors[name]
        except KeyError:
            known = ", ".join(sorted(self.connectors)) or "none"
            raise ConfigurationError(f"no connector named {name!r} (loaded: {known})") from None

    def settings_of(self, name: str) -> list[EffectiveSetting]:
        """Each declared setting of a connector with its value and source (env > file > default)."""
        cls = self.connector_class(name)
        return effective_settings(name, cls.Settings, self.config)

    def settings_for(self, name: str) -> dict[str, Any]:
        """The values a connector is built with: the environment over the file (defaults are
        left to the settings model)."""
        return {s.name: s.value for s in self.settings_of(name) if s.source != "default"}

    def is_configured(self, name: str) -> bool:
        """Whether the file or the environment configures this connector (see ``_config``)."""
        return is_configured(name, self.connector_class(name).Settings, self.config)

    def require_configured(self, name: str) -> None:
        """Raise :class:`NotConfiguredError` for an installed connector nobody configured, before
        anything touches its (default, absent) legacy system."""
        if not self.is_configured(name):
            raise NotConfiguredError(name, list(self.connector_class(name).Settings.model_fields))

    def restricted(self, names: Iterable[str]) -> Registry:
        """The same registry with only these connectors: what a long-running service (the
        gateway) is built from when some installed connectors are not configured."""
        keep = set(names)
        return replace(
            self,
            connectors={n: c for n, c in self.connectors.items() if n in keep},
            connector_plugin={n: p for n, p in self.connector_plugin.items() if n in keep},
        )

    def connector(self, name: str, settings: Mapping[str, Any] | None = None) -> Connector:
        """An instance of a connector, with settings given in code, else from the environment
        over the config file. A failure of the connector's own code (a driver that cannot load,
        a connection made eagerly) is a :class:`ConnectorError` naming the connector."""
        cls = self.connector_class(name)
        with connector_faults(name, "connect"):
            return cls(settings if settings is not None else self.settings_for(name))

    def catalog(self) -> Catalog:
        """The catalog of every loaded service (not validated across connectors; see problems)."""
        return Catalog(resources=[svc.resource for svc in self.services()])

    def node_catalog(self, node: str) -> Catalog:
        """The resources of the connectors that *are* ``node`` (``department code/system code``,
        or a department code alone): what a node registers with the platform. Other installed
        connectors belong to other nodes; registering them here would claim their data."""
        department, _, system = node.partition("/")
        return Catalog(
            resources=[
                r
                for r in self.catalog().resources
                if r.provider.code == department
                and (not system or r.provider.system_code == system)
            ]
        )

    def catalog_problems(self) -> list[Problem]:
        return self.catalog().problems()

    def emit(self, event: ExchangeEvent) -> None:
        """Send an exchange event to every plugin; an observer's failure never breaks delivery."""
        for impl in self.pm.hook.exchange_event.get_hookimpls():
            try:
                impl.function(event=event)
            except Exception:
                log.exception("exchange_event observer %s failed", impl.plugin_name)


def load_registry(
    *,
    plugins: Iterable[Any] = (),
    entry_points: bool = True,
    config: Config | Mapping[str, Any] | None = None,
) -> Registry:
    """Load plugins (entry points of group ``govconnect`` plus ``plugins`` given in-process)."""
    pm = make_plugin_manager(plugins=plugins, entry_points_enabled=entry_points)
    cfg = config if isinstance(config, Config) else Config(config or {})
    if config is None:
        cfg = load_config()
    reg = Registry(pm=pm, config=cfg, errors=list(pm.load_errors))
    for plugin_name, result in _call_each(reg, "register_connectors"):
        for cls in result or ():
            _add_connector(reg, plugin_name, cls)
    for _plugin_name, result in _call_each(reg, "register_code_tables"):
        for table in result or ():
            reg.code_tables[table.name] = table
    for plugin_name, result in _call_each(reg, "register_transforms"):
        for tname, fn in (result or {}).items():
            if tname in reg.transforms:
                reg.errors.append(
                    PluginError(plugin_name, f"transform {tname!r} is already registered")
                )
                continue
            reg.transforms[tname] = fn
    return reg


def _call_each(reg: Registry, hook_name: str) -> Iterable[tuple[str, Any]]:
    """Call one hook plugin by plugin, in registration order, isolating each plugin's failure."""
    for impl in getattr(reg.pm.hook, hook_name).get_hookimpls():
        try:
            yield impl.plugin_name, impl.function()
        except Exception as exc:
            reg.errors.append(
                PluginError(impl.plugin_name, f"{hook_name} failed: {type(exc).__name__}: {exc}")
            )


def _add_connector(reg: Registry, plugin_name: str, cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        reg.errors.append(
            PluginError(plugin_name, f"register_connectors returned {cls!r}, not a Connector class")
        )
        return
    try:
        cls.services()
    except ServiceDefinitionError as exc:
        reg.errors.append(PluginError(plugin_name, str(exc)))
        return
    if cls.name in reg.connectors and reg.connectors[cls.name] is not cls:
        reg.errors.append(
            PluginError(
                plugin_name,
                f"connector name {cls.name!r} is already registered by "
                f"{reg.connector_plugin[cls.name]!r}",
            )
        )
        return
    reg.connectors[cls.name] = cls
    reg.connector_plugin[cls.name] = plugin_name


def plugin_commands(app: typer.Typer) -> None:
    """Let plugins add CLI commands; a failing plugin is skipped with a warning."""
    try:
        pm = make_plugin_manager()
    except Exception:  # pragma: no cover - plugin manager construction itself failed
        log.exception("could not load plugins for CLI commands")
        return
    for impl in pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=app)
        except Exception as exc:
            log.warning("plugin %s could not add commands: %s", impl.plugin_name, exc)
