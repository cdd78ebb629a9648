"""Declaring a connector: a department's legacy system and the catalogued services it offers.

A department developer writes one class::

    class Household(Connector):
        name = "household"
        department = Department(code="110105000000", name="北京市朝阳区公安分局")
        system = LegacySystem(code="HJXT", name="户籍管理系统")

        @query(code="111112001/2001", name="居民户籍信息查询", abstract="…",
               sharing="conditional", conditions="凭办件编号查询", update_cycle="real_time",
               published="2026-01-01")
        def resident(self, params: ResidentQuery) -> Iterator[Resident]:
            yield from ...

Everything else (catalog entry, validation of parameters and records, OpenAPI, serving, exchange)
comes from the SDK. Declarations are checked when the connector is loaded, not when the module is
imported, so a mistake is reported with connector, service and field names and never stops other
plugins from loading.

The decorators and the reading of params and record models from a method's signature live in
``_service_declaration``; this module checks the declarations and builds the services from them.
"""

from __future__ import annotations

import inspect
import os
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._exceptions import (
    ConfigurationError,
    ConnectorError,
    GovConnectError,
    Problem,
    ServiceDefinitionError,
)
from ._service_declaration import (
    ServiceDeclaration,
    ServiceMeta,
    models_from_signature,
    positional_count,
)
from ._validation import problems_from_pydantic, validate_model
from .cases.handlers import IntakeHandler, StatusUpdate, inspect_handlers, no_status_updates
from .catalog.fields import information_items
from .catalog.model import (
    OpenAttributes,
    Provider,
    Resource,
    ResourceFormat,
    Sharing,
    SharingMethod,
    resource_problems,
)

__all__ = [
    "CODE_PATTERN",
    "Connector",
    "Department",
    "LegacySystem",
    "NoSettings",
    "Service",
    "connector_faults",
]

CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_-]{1,31}$"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class Department(BaseModel):
    """The department (提供方) that owns the legacy system; ``code`` is its department code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1)


class LegacySystem(BaseModel):
    """The legacy system (业务系统) the connector reaches."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1)


class NoSettings(BaseModel):
    """Settings of a connector that needs none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Service:
    """A validated service of a connector class, with its catalog resource."""

    connector: type[Connector]
    name: str
    kind: Literal["query", "dataset"]
    params_model: type[BaseModel]
    record_model: type[BaseModel]
    function: Callable[..., Iterable[Any]]
    resource: Resource
    key: str | None = None
    replication_key: str | None = None
    count: str | None = None
    takes_params: bool = True
    split: str | None = None

    @property
    def code(self) -> str:
        return self.resource.code

    @property
    def qualified_name(self) -> str:
        return f"{self.connector.name}.{self.name}"

    @property
    def id(self) -> str:
        """Hierarchical service identifier, X-Road style: department/system/service/version."""
        d, s = self.connector.department.code, self.connector.system.code
        return f"{d}/{s}/{self.name}/v{self.resource.version}"


@contextmanager
def connector_faults(connector: str, service: str) -> Iterator[None]:
    """Turn anything a connector or its driver raises into a :class:`ConnectorError`.

    Wrap exactly the calls into connector code (building it, reading a dataset, polling), never
    our own storage: the error then says the legacy side failed, names connector and service,
    and carries the driver's exception only as ``__cause__`` (its text may hold a password or a
    citizen ID). Our own errors pass through unchanged; so do ``KeyboardInterrupt``/``SystemExit``.
    """
    try:
        yield
    except GovConnectError:
        raise
    except Exception as exc:
        raise ConnectorError(connector, service, exc) from exc


class Connector:
    """Base class of every connector: subclass it, set the class attributes, declare services.

    Instances hold the connection to the legacy system (built from ``Settings``); the class holds
    the declarations. Use as a context manager, or call :meth:`close`.
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    department: ClassVar[Department]
    system: ClassVar[LegacySystem]
    Settings: ClassVar[type[BaseModel]] = NoSettings

    _services_cache: ClassVar[dict[str, Service] | None] = None
    _handlers_cache: ClassVar[dict[str, IntakeHandler] | None] = None

    def __init__(self, settings: BaseModel | Mapping[str, Any] | None = None) -> None:
        self.settings = self.load_settings(settings)

    # --- declarations -------------------------------------------------------------------------

    @classmethod
    def services(cls) -> dict[str, Service]:
        """The connector's validated services, by name (cached on the class).

        Raises :class:`ServiceDefinitionError` listing every problem of the declaration.
        """
        cached = cls.__dict__.get("_services_cache")
        if cached is not None:
            return cached
        services, handlers, problems = _inspect_connector(cls)
        if problems:
            raise ServiceDefinitionError(getattr(cls, "name", cls.__name__), problems)
        cls._services_cache = services
        cls._handlers_cache = handlers
        return services

    @classmethod
    def intake_handlers(cls) -> dict[str, IntakeHandler]:
        """The connector's validated intake handlers, by matter code (validated with services)."""
        cls.services()
        return cls.__dict__.get("_handlers_cache") or {}

    @classmethod
    def service(cls, name: str) -> Service:
        try:
            return cls.services()[name]
        except KeyError:
            known = ", ".join(cls.services()) or "none"
            raise ConfigurationError(
                f"connector {cls.name!r} has no service {name!r} (it has: {known})"
            ) from None

    # --- settings -----------------------------------------------------------------------------

    @classmethod
    def load_settings(cls, given: BaseModel | Mapping[str, Any] | None) -> BaseModel:
        """Settings from ``given`` over environment variables ``GOVCONNECT_<NAME>_<FIELD>``.

        ``given`` is what code passes explicitly (a test, the demo); the registry passes the
        effective file-and-environment values, already in the documented order (environment over
        file over default). A bad value is a :class:`ConfigurationError` naming the setting,
        never echoing its value.
        """
        if isinstance(given, cls.Settings):
            return given
        values: dict[str, Any] = {}
        prefix = f"GOVCONNECT_{cls.name.upper()}_"
        for fname in cls.Settings.model_fields:
            env = os.environ.get(prefix + fname.upper())
            if env is not None:
                values[fname] = env
        if isinstance(given, BaseModel):
            given = given.model_dump()
        values.update(given or {})
        try:
            return cls.Settings.model_validate(values)
        except ValidationError as exc:
            problems = problems_from_pydantic(exc, f"connectors.{cls.name}")
            raise ConfigurationError(
                f"invalid settings for connector {cls.name!r}: "
                + "; ".join(str(p) for p in problems)
            ) from None

    # --- running services ---------------------------------------------------------------------

    def run(
        self, service: str | Service, params: BaseModel | Mapping[str, Any] | None = None
    ) -> Iterator[BaseModel]:
        """Validate ``params`` and stream the service's records, each an instance of its model.

        Bad parameters raise :class:`InvalidInputError` naming the field and rule before the legacy
        system is touched. Records yielded as mappings are validated into the record model.
        """
        svc = service if isinstance(service, Service) else self.service(service)
        checked = validate_model(svc.params_model, params or {}, "params")
        model = svc.record_model
        produced = svc.function(self, checked) if svc.takes_params else svc.function(self)
        for item in produced:
            yield item if isinstance(item, model) else model.model_validate(item)

    def poll_status(self, since: datetime | None) -> Iterator[StatusUpdate]:
        """Status changes of intake cases inside the legacy system since ``since``.

        The intake bridge reports them back to the platform through the outbox. The default
        reports none: override it for a legacy system that records when a case is in progress,
        completed (with its result, e.g. a certificate number) or returned.
        """
        return no_status_updates(since)

    def close(self) -> None:
        """Release connections to the legacy system. Override when the connector holds any."""

    def __enter__(self) -> typing.Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _inspect_connector(
    cls: type[Connector],
) -> tuple[dict[str, Service], dict[str, IntakeHandler], list[Problem]]:
    problems: list[Problem] = []
    cname = cls.__dict__.get("name") or getattr(cls, "name", None)
    label = cname if isinstance(cname, str) else cls.__name__
    if not isinstance(cname, str) or not NAME_PATTERN.match(cname):
        problems.append(
            Problem(label, "connector.name", "name must be lower-case letters, digits, underscores")
        )
    for attr, model in (("department", Department), ("system", LegacySystem)):
        value = getattr(cls, attr, None)
        if not isinstance(value, model):
            problems.append(
                Problem(f"{label}.{attr}", f"connector.{attr}", f"set {attr} = {model.__name__}(…)")
            )
    if problems:
        return {}, {}, problems
    services: dict[str, Service] = {}
    for attr, fn in inspect.getmembers(cls, predicate=inspect.isfunction):
        decl: ServiceDeclaration | None = getattr(fn, "__govconnect_service__", None)
        if decl is None:
            continue
        sname = decl.name or attr
        svc, svc_problems = _build_service(cls, sname, fn, decl)
        problems.extend(svc_problems)
        if svc is not None:
            services[sname] = svc
    handlers, handler_problems = inspect_handlers(cls)
    problems.extend(handler_problems)
    if not services and not handlers and not problems:
        problems.append(
            Problem(label, "connector.services", "declares no services and no intake handlers")
        )
    return services, handlers, problems


KEY_RANGE_PARAMS = ("key_from", "key_to")
"""The params fields through which a dataset with ``split=`` reads one key range
(``key_from <= key < key_to``; ``None``: unbounded on that side)."""


def _split_problems(
    cls: type[Connector], meta: ServiceMeta, params_model: type[BaseModel], where: str
) -> list[Problem]:
    """``split=`` names a connector method, and the dataset can read the ranges it cuts."""
    if meta.split is None:
        return []
    problems = []
    if not callable(getattr(cls, meta.split, None)):
        problems.append(
            Problem(f"{where}.split", "service.split", f"{meta.split!r} is not a connector method")
        )
    missing = [f for f in KEY_RANGE_PARAMS if f not in params_model.model_fields]
    if missing:
        problems.append(
            Problem(
                f"{where}.params",
                "dataset.key_range_params",
                "a dataset with split= takes a params model with 'key_from' and 'key_to' fields"
                f" (missing: {', '.join(missing)})",
            )
        )
    return problems


def _build_service(
    cls: type[Connector], sname: str, fn: Callable[..., Any], decl: ServiceDeclaration
) -> tuple[Service | None, list[Problem]]:
    where = f"{cls.name}.{sname}"
    problems: list[Problem] = []
    if not NAME_PATTERN.match(sname):
        problems.append(Problem(where, "service.name", "service names are lower-case identifiers"))
    try:
        meta = ServiceMeta.model_validate(decl.meta)
    except ValidationError as exc:
        return None, problems + problems_from_pydantic(exc, where)
    params_model, record_model, sig_problems = models_from_signature(fn, decl, where)
    problems.extend(sig_problems)
    if record_model is None or params_model is None:
        return None, problems
    items, item_problems = information_items(record_model, where)
    problems.extend(item_problems)
    if decl.kind == "dataset" and meta.key is None:
        problems.append(
            Problem(f"{where}.key", "dataset.key_required", "a dataset names its key field")
        )
    for attr in ("key", "replication_key"):
        value = getattr(meta, attr)
        if value is not None and value not in record_model.model_fields:
            problems.append(
                Problem(f"{where}.{attr}", f"service.{attr}", f"{value!r} is not a record field")
            )
    if (
        meta.replication_key is not None
        and params_model is not None
        and "since" not in params_model.model_fields
    ):
        problems.append(
            Problem(
                f"{where}.params",
                "dataset.since_required",
                "a dataset with a replication key takes a params model with a 'since' field",
            )
        )
    if meta.count is not None and not callable(getattr(cls, meta.count, None)):
        problems.append(
            Problem(f"{where}.count", "service.count", f"{meta.count!r} is not a connector method")
        )
    problems.extend(_split_problems(cls, meta, params_model, where))
    is_query = decl.kind == "query"
    default_method = SharingMethod.INTERFACE if is_query else SharingMethod.TABLE
    default_format = ResourceFormat.SELF_DESCRIBING if is_query else ResourceFormat.DATABASE
    resource = Resource(
        code=meta.code,
        version=meta.version,
        name=meta.name,
        abstract=meta.abstract,
        kind=decl.kind,
        connector=cls.name,
        service=sname,
        provider=Provider(
            code=cls.department.code,
            name=cls.department.name,
            system_code=cls.system.code,
            system_name=cls.system.name,
        ),
        format=meta.format or default_format,
        format_detail=meta.format_detail or ("JSON API" if is_query else None),
        sharing=Sharing(
            type=meta.sharing,
            conditions=meta.conditions,
            legal_basis=meta.legal_basis,
            method=meta.sharing_method or default_method,
            method_note=meta.method_note,
        ),
        open=OpenAttributes(public=meta.open_to_public, conditions=meta.open_conditions),
        update_cycle=meta.update_cycle,
        published=meta.published,
        related=meta.related,
        items=items,
        drafts=meta.drafts,
        authoritative=meta.authoritative,
    )
    problems.extend(
        Problem(f"{where}.{p.field.split('.', 1)[1]}", p.rule, p.message)
        for p in resource_problems(resource)
        if not (item_problems and p.rule == "items.required")
    )
    if problems:
        return None, problems
    return (
        Service(
            connector=cls,
            name=sname,
            kind=decl.kind,
            params_model=params_model,
            record_model=record_model,
            function=fn,
            resource=resource,
            key=meta.key,
            replication_key=meta.replication_key,
            count=meta.count,
            takes_params=positional_count(fn) == 2,
            split=meta.split,
        ),
        problems,
    )
