"""govconnect: connect departmental legacy systems to the data-exchange and unified intake platforms.

The public API is this flat namespace; implementation lives in private modules. See README.md for a
five-minute tour and docs/ for the plugin hooks and the platform contract.
"""

from __future__ import annotations

from ._audit import AuditLog, AuditRecord, ServiceUsage, VerifyReport
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
from ._diff import CatalogDiff, ItemChange, ResourceChange, diff_catalogs
from ._events import EventKind, ExchangeEvent
from ._exceptions import (
    AccessDeniedError,
    AuditIntegrityError,
    AuthenticationError,
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
from ._fields import DataType, InformationItem, Record, field, information_items
from ._gateway import Gateway, canonical_request, create_app, request_hash
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
from ._masking import mask_value
from ._plugins import PluginManager, make_plugin_manager
from ._policy import (
    Consumer,
    FieldView,
    GatewayConfig,
    GatewaySettings,
    Policy,
    generate_token,
    hash_token,
    load_gateway_config,
)
from ._registry import Registry, load_registry
from ._validation import problems_from_pydantic, validate_model
from .hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = [
    "ETHNICITY",
    "EXPORT_FORMATS",
    "GATEWAY_PARAMETERS",
    "GENDER",
    "NATIONAL_CODE_TABLES",
    "AccessDeniedError",
    "AuditIntegrityError",
    "AuditLog",
    "AuditRecord",
    "AuthenticationError",
    "Catalog",
    "CatalogDiff",
    "CatalogValidationError",
    "Category",
    "CitizenId",
    "CodeTable",
    "Config",
    "ConfigurationError",
    "Connector",
    "Consumer",
    "CreditCode",
    "DataType",
    "Department",
    "EventKind",
    "ExchangeError",
    "ExchangeEvent",
    "FieldView",
    "Gateway",
    "GatewayConfig",
    "GatewaySettings",
    "GovConnectError",
    "IdentityError",
    "InformationItem",
    "InvalidInputError",
    "ItemChange",
    "LegacySystem",
    "Level",
    "NoParams",
    "NoSettings",
    "OpenAttributes",
    "PlatformRejectedError",
    "PluginError",
    "PluginManager",
    "Policy",
    "Problem",
    "Provider",
    "Record",
    "Registry",
    "Resource",
    "ResourceChange",
    "ResourceFormat",
    "RetryableError",
    "Service",
    "ServiceDefinitionError",
    "ServiceUsage",
    "Sharing",
    "SharingMethod",
    "SharingType",
    "UpdateCycle",
    "VerifyReport",
    "__version__",
    "canonical_request",
    "catalog_problems",
    "citizen_id_check_char",
    "create_app",
    "credit_code_check_char",
    "dataset",
    "diff_catalogs",
    "export_catalog",
    "field",
    "generate_token",
    "hash_token",
    "hookimpl",
    "information_items",
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
    "to_csv",
    "to_dcat",
    "to_json",
    "to_openapi",
    "validate_model",
]
