"""govconnect: connect departmental legacy systems to the data-exchange and unified intake platforms.

The public API is this flat namespace; implementation lives in private modules. See README.md for a
five-minute tour and docs/ for the plugin hooks and the platform contract.
"""

from __future__ import annotations

from ._config import Config, load_config
from ._connector import Connector, Department, LegacySystem, NoSettings, Service
from ._exceptions import (
    AccessDeniedError,
    AuditIntegrityError,
    AuthenticationError,
    CatalogValidationError,
    ConfigurationError,
    DiscoveryError,
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
from ._export import (
    EXPORT_FORMATS,
    GATEWAY_PARAMETERS,
    export_catalog,
    service_path,
    to_csv,
    to_dcat,
    to_json,
    to_openapi,
)
from ._plugins import PluginManager, make_plugin_manager
from ._registry import Registry, load_registry
from ._service_declaration import NoParams, dataset, query
from ._validation import problems_from_pydantic, validate_model
from .bridge.bridge import IntakeBridge
from .bridge.journal import IntakeJournal
from .bridge.report import CaseOutcome, IntakeReport
from .cases.case import (
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
from .cases.handlers import IntakeHandler, StatusUpdate, intake
from .cases.mapping import Compute, Concat, Const, Expr, From, MappingContext, apply_mapping
from .cases.sinks import (
    ApiSink,
    DatabaseSink,
    FileDropSink,
    FixedField,
    FixedWidthLayout,
    RecordCountTrailer,
    Sink,
    SinkResult,
    target_fields,
)
from .catalog.classification import Level
from .catalog.codetables import ETHNICITY, GENDER, NATIONAL_CODE_TABLES, CodeTable
from .catalog.diff import CatalogDiff, ItemChange, ResourceChange, diff_catalogs
from .catalog.fields import DataType, InformationItem, Record, field, information_items
from .catalog.identity import (
    CitizenId,
    CreditCode,
    citizen_id_check_char,
    credit_code_check_char,
    mask,
    mask_citizen_id,
    mask_credit_code,
    organization_code_check_char,
)
from .catalog.model import (
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
from .catalog.textdates import TextDate, TextDateTime
from .discovery import (
    ColumnEvidence,
    ColumnReport,
    Detector,
    DiscoveryReport,
    Finding,
    TableReport,
    Term,
    discover,
)
from .exchange.client import ExchangeClient, PlatformDiff, PublishResult
from .exchange.delivery.stats import DeliveryStats
from .exchange.delivery.worker import OUTBOX_POLICY, DeliveryWorker
from .exchange.events import EventKind, ExchangeEvent
from .exchange.outbox.dead_letters import DeadLetter
from .exchange.outbox.status import OutboxStatus
from .exchange.outbox.store import Outbox
from .exchange.retry import RetryPolicy
from .gateway.app import Gateway, create_app
from .gateway.audit import AuditLog
from .gateway.audit_chain import VerifyReport
from .gateway.audit_record import AuditRecord
from .gateway.audit_reports import ServiceUsage
from .gateway.masking import mask_value
from .gateway.policy import (
    Consumer,
    FieldView,
    GatewayConfig,
    GatewaySettings,
    Policy,
    generate_token,
    hash_token,
    load_gateway_config,
)
from .gateway.request import canonical_request, request_hash
from .hookspecs import hookimpl
from .publish.publisher import Publisher, PublishReport, PublishState, Reject

__version__ = "0.1.0"

__all__ = [
    "ETHNICITY",
    "EXPORT_FORMATS",
    "GATEWAY_PARAMETERS",
    "GENDER",
    "NATIONAL_CODE_TABLES",
    "OUTBOX_POLICY",
    "AccessDeniedError",
    "ApiSink",
    "Applicant",
    "AuditIntegrityError",
    "AuditLog",
    "AuditRecord",
    "AuthenticationError",
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
    "ColumnEvidence",
    "ColumnReport",
    "Compute",
    "Concat",
    "Config",
    "ConfigurationError",
    "Connector",
    "Const",
    "Consumer",
    "CreditCode",
    "DataType",
    "DatabaseSink",
    "DeadLetter",
    "DeliveryStats",
    "DeliveryWorker",
    "Department",
    "Detector",
    "DiscoveryError",
    "DiscoveryReport",
    "ElectronicLicence",
    "EventKind",
    "ExchangeClient",
    "ExchangeError",
    "ExchangeEvent",
    "Expr",
    "FieldView",
    "FileDropSink",
    "FileMaterial",
    "Finding",
    "FixedField",
    "FixedWidthLayout",
    "From",
    "Gateway",
    "GatewayConfig",
    "GatewaySettings",
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
    "Policy",
    "Problem",
    "Provider",
    "PublishAbortedError",
    "PublishReport",
    "PublishResult",
    "PublishState",
    "Publisher",
    "Record",
    "RecordCountTrailer",
    "Registry",
    "Reject",
    "Resource",
    "ResourceChange",
    "ResourceFormat",
    "RetryPolicy",
    "RetryableError",
    "Service",
    "ServiceDefinitionError",
    "ServiceUsage",
    "Sharing",
    "SharingMethod",
    "SharingType",
    "Sink",
    "SinkResult",
    "StatusUpdate",
    "TableReport",
    "Term",
    "TextDate",
    "TextDateTime",
    "UpdateCycle",
    "VerifyReport",
    "__version__",
    "apply_mapping",
    "canonical_request",
    "catalog_problems",
    "citizen_id_check_char",
    "create_app",
    "credit_code_check_char",
    "dataset",
    "diff_catalogs",
    "discover",
    "export_catalog",
    "field",
    "generate_token",
    "hash_token",
    "hookimpl",
    "information_items",
    "intake",
    "load_config",
    "load_gateway_config",
    "load_registry",
    "make_plugin_manager",
    "mask",
    "mask_citizen_id",
    "mask_credit_code",
    "mask_value",
    "organization_code_check_char",
    "parse_resource_code",
    "problems_from_pydantic",
    "query",
    "request_hash",
    "service_path",
    "target_fields",
    "to_csv",
    "to_dcat",
    "to_json",
    "to_openapi",
    "validate_model",
]
