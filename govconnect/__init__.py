"""govconnect: connect departmental legacy systems to the data-exchange and unified intake platforms.

The public API is this flat namespace; implementation lives in private modules. See README.md for a
five-minute tour and docs/ for the plugin hooks and the platform contract.
"""

from __future__ import annotations

from ._case import (
    Applicant,
    Case,
    CaseStatus,
    Channel,
    ElectronicLicence,
    FileMaterial,
    Material,
    Organization,
    Person,
)
from ._catalog import (
    Catalog,
    Category,
    OpenAttributes,
    Provider,
    Resource,
    ResourceFormat,
    Sharing,
    SharingMethod,
    SharingType,
    UpdateCycle,
    catalog_problems,
    parse_resource_code,
)
from ._classification import Level
from ._client import ExchangeClient, PlatformDiff, PublishResult
from ._codetables import ETHNICITY, GENDER, NATIONAL_CODE_TABLES, CodeTable
from ._config import Config, load_config
from ._connector import (
    Connector,
    Department,
    LegacySystem,
    NoParams,
    NoSettings,
    Service,
    dataset,
    query,
)
from ._delivery import OUTBOX_POLICY, DeliveryStats, DeliveryWorker
from ._diff import CatalogDiff, ItemChange, ResourceChange, diff_catalogs
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
    PublishAbortedError,
    RetryableError,
    ServiceDefinitionError,
)
from ._export import EXPORT_FORMATS, export_catalog, to_csv, to_dcat, to_json, to_openapi
from ._fields import DataType, InformationItem, Record, field, information_items
from ._handlers import IntakeHandler, StatusUpdate, intake
from ._identity import (
    CitizenId,
    CreditCode,
    citizen_id_check_char,
    credit_code_check_char,
    mask,
    mask_citizen_id,
    mask_credit_code,
    organization_code_check_char,
)
from ._intake import CaseOutcome, IntakeBridge, IntakeJournal, IntakeReport
from ._mapping import Compute, Concat, Const, Expr, From, MappingContext, apply_mapping
from ._outbox import DeadLetter, Outbox, OutboxStatus
from ._plugins import PluginManager, make_plugin_manager
from ._publish import Publisher, PublishReport, PublishState, Reject
from ._registry import Registry, load_registry
from ._retry import RetryPolicy
from ._sinks import (
    ApiSink,
    DatabaseSink,
    FileDropSink,
    FixedField,
    FixedWidthLayout,
    Sink,
    SinkResult,
    target_fields,
)
from ._validation import problems_from_pydantic, validate_model
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "ETHNICITY",
    "EXPORT_FORMATS",
    "GENDER",
    "NATIONAL_CODE_TABLES",
    "OUTBOX_POLICY",
    "ApiSink",
    "Applicant",
    "Case",
    "CaseOutcome",
    "CaseStatus",
    "Catalog",
    "CatalogDiff",
    "CatalogValidationError",
    "Category",
    "Channel",
    "CitizenId",
    "CodeTable",
    "Compute",
    "Concat",
    "Config",
    "ConfigurationError",
    "Connector",
    "Const",
    "CreditCode",
    "DataType",
    "DatabaseSink",
    "DeadLetter",
    "DeliveryStats",
    "DeliveryWorker",
    "Department",
    "ElectronicLicence",
    "EventKind",
    "ExchangeClient",
    "ExchangeError",
    "ExchangeEvent",
    "Expr",
    "FileDropSink",
    "FileMaterial",
    "FixedField",
    "FixedWidthLayout",
    "From",
    "GovConnectError",
    "IdentityError",
    "InformationItem",
    "IntakeBridge",
    "IntakeHandler",
    "IntakeJournal",
    "IntakeReport",
    "InvalidInputError",
    "ItemChange",
    "LegacySystem",
    "Level",
    "MappingContext",
    "Material",
    "NoParams",
    "NoSettings",
    "OpenAttributes",
    "Organization",
    "Outbox",
    "OutboxStatus",
    "Person",
    "PlatformDiff",
    "PlatformRejectedError",
    "PluginError",
    "PluginManager",
    "Problem",
    "Provider",
    "PublishAbortedError",
    "PublishReport",
    "PublishResult",
    "PublishState",
    "Publisher",
    "Record",
    "Registry",
    "Reject",
    "Resource",
    "ResourceChange",
    "ResourceFormat",
    "RetryPolicy",
    "RetryableError",
    "Service",
    "ServiceDefinitionError",
    "Sharing",
    "SharingMethod",
    "SharingType",
    "Sink",
    "SinkResult",
    "StatusUpdate",
    "UpdateCycle",
    "__version__",
    "apply_mapping",
    "catalog_problems",
    "citizen_id_check_char",
    "credit_code_check_char",
    "dataset",
    "diff_catalogs",
    "export_catalog",
    "field",
    "hookimpl",
    "information_items",
    "intake",
    "load_config",
    "load_registry",
    "make_plugin_manager",
    "mask",
    "mask_citizen_id",
    "mask_credit_code",
    "organization_code_check_char",
    "parse_resource_code",
    "problems_from_pydantic",
    "query",
    "target_fields",
    "to_csv",
    "to_dcat",
    "to_json",
    "to_openapi",
    "validate_model",
]
