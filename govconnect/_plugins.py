"""The plugin manager factory: specs, entry points, default plugins, then ``check_pending()``.

A plugin that fails to import or register is recorded as a :class:`PluginError` and skipped; the
others still load. Built-in behaviour (national code tables, …) is itself registered as plugins so
the hook surface is exercised by the project's own code.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from ._exceptions import PluginError

__all__ = ["DEFAULT_PLUGINS", "PluginManager", "make_plugin_manager"]

log = logging.getLogger(__name__)

DEFAULT_PLUGINS = ("govconnect._default_plugins", "govconnect.discovery.plugin")


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the list of plugins that failed to load, and where each came from."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.load_errors: list[PluginError] = []
        self.origins: dict[str, str] = {}

    def register_isolated(self, plugin: Any, name: str, origin: str) -> bool:
        """Register one plugin; on failure record a ``PluginError`` instead of raising."""
        try:
            self.register(plugin, name=name)
        except Exception as exc:
            self.load_errors.append(PluginError(name, f"{type(exc).__name__}: {exc}"))
            return False
        self.origins[name] = origin
        return True


def make_plugin_manager(
    *, plugins: Iterable[Any] = (), entry_points_enabled: bool = True, defaults: bool = True
) -> PluginManager:
    """Build a plugin manager: add specs, register defaults, load entry points, then in-process
    plugins, then verify no implementation names a hook that does not exist.

    ``plugins`` are modules or objects registered in-process (tests, notebooks). A misspelled hook
    implementation is reported as a load error of its plugin rather than silently ignored.
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    if defaults:
        for modname in DEFAULT_PLUGINS:
            pm.register_isolated(importlib.import_module(modname), modname, "builtin")
    if entry_points_enabled:
        for ep in entry_points(group=hookspecs.PROJECT):
            dist = ep.dist.name if ep.dist is not None else "?"
            try:
                obj = ep.load()
            except Exception as exc:
                pm.load_errors.append(
                    PluginError(
                        ep.name, f"failed to import {ep.value!r}: {type(exc).__name__}: {exc}"
                    )
                )
                continue
            if pm.get_plugin(ep.name) is not None:
                continue
            pm.register_isolated(obj, ep.name, f"entry point ({dist})")
    for i, obj in enumerate(plugins):
        name = _plugin_name(obj, i)
        pm.register_isolated(obj, name, "in-process")
    _reject_unknown_hooks(pm)
    return pm


def _plugin_name(obj: Any, index: int) -> str:
    if isinstance(obj, ModuleType):
        return obj.__name__
    return getattr(obj, "__name__", None) or f"{type(obj).__name__}-{index}"


def _reject_unknown_hooks(pm: PluginManager) -> None:
    """``check_pending`` per plugin, so one misspelled hook unregisters only its own plugin."""
    for name, plugin in list(pm.list_name_plugin()):
        bad = [
            attr
            for attr in dir(plugin)
            if _is_hookimpl(plugin, attr)
            and getattr(getattr(pm.hook, attr, None), "spec", None) is None
        ]
        if bad:
            pm.unregister(plugin)
            pm.origins.pop(name, None)
            pm.load_errors.append(
                PluginError(name, f"implements unknown hook(s): {', '.join(sorted(bad))}")
            )
    pm.check_pending()


def _is_hookimpl(plugin: Any, attr: str) -> bool:
    try:
        value = getattr(plugin, attr)
    except Exception:
        return False
    return callable(value) and hasattr(value, f"{hookspecs.PROJECT}_impl")
