"""Discovery's built-in dictionary and detectors, registered as a default plugin.

Like ``govconnect/_default_plugins.py`` for the code tables: our own behaviour goes through the
hooks (``discovery_dictionary``, ``register_detectors``) so a department plugin extends or
overrides it the same way. It lives in this package, not in the framework module, because the
framework sits below discovery and never imports it; ``govconnect._plugins.DEFAULT_PLUGINS`` names
this module as a string.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..hookspecs import hookimpl
from .detectors import BUILTIN_DETECTORS, Detector
from .dictionary import BUILTIN_TERMS, Term

__all__ = ["discovery_dictionary", "register_detectors"]


@hookimpl
def discovery_dictionary() -> Mapping[str, Term]:
    return BUILTIN_TERMS


@hookimpl
def register_detectors() -> list[Detector]:
    return list(BUILTIN_DETECTORS)
