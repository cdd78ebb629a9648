"""govconnect: connect departmental legacy systems to the data-exchange and unified intake platforms."""

from __future__ import annotations

from ._client import ExchangeClient, PlatformDiff, PublishResult
from ._codetables import ETHNICITY, GENDER, NATIONAL_CODE_TABLES, CodeTable
from ._delivery import OUTBOX_POLICY, DeliveryStats, DeliveryWorker
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
from ._outbox import DeadLetter, Outbox, OutboxStatus
from ._plugins import PluginManager, make_plugin_manager
from ._retry import RetryPolicy
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "ETHNICITY",
    "GENDER",
    "NATIONAL_CODE_TABLES",
    "OUTBOX_POLICY",
    "CatalogValidationError",
    "CodeTable",
    "ConfigurationError",
    "DeadLetter",
    "DeliveryStats",
    "DeliveryWorker",
    "EventKind",
    "ExchangeClient",
    "ExchangeError",
    "ExchangeEvent",
    "GovConnectError",
    "IdentityError",
    "InvalidInputError",
    "Outbox",
    "OutboxStatus",
    "PlatformDiff",
    "PlatformRejectedError",
    "PluginError",
    "PluginManager",
    "Problem",
    "PublishResult",
    "RetryPolicy",
    "RetryableError",
    "ServiceDefinitionError",
    "__version__",
    "hookimpl",
    "make_plugin_manager",
]
