"""govconnect: connect departmental legacy systems to the data-exchange and unified intake platforms."""

from __future__ import annotations

from ._codetables import ETHNICITY, GENDER, NATIONAL_CODE_TABLES, CodeTable
from ._events import EventKind, ExchangeEvent
from ._exceptions import (
    CatalogValidationError,
    ConfigurationError,
    ExchangeError,
    GovConnectError,
    IdentityError,
    InvalidInputError,
    PlatformRejectedError,
    PluginError,
    Problem,
    RetryableError,
    ServiceDefinitionError,
)
from ._plugins import PluginManager, make_plugin_manager
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "ETHNICITY",
    "GENDER",
    "NATIONAL_CODE_TABLES",
    "CatalogValidationError",
    "CodeTable",
    "ConfigurationError",
    "EventKind",
    "ExchangeError",
    "ExchangeEvent",
    "GovConnectError",
    "IdentityError",
    "InvalidInputError",
    "PlatformRejectedError",
    "PluginError",
    "PluginManager",
    "Problem",
    "RetryableError",
    "ServiceDefinitionError",
    "__version__",
    "hookimpl",
    "make_plugin_manager",
]
