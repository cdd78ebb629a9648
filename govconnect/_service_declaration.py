"""Declaring a service: the ``@query`` / ``@dataset`` decorators and what they record.

A decorator only marks the method with its :class:`ServiceDeclaration` (the catalog metadata as
given, and ``params=`` / ``record=`` if given); nothing is checked at import time. When the
connector is loaded, :class:`ServiceMeta` validates the metadata and :func:`models_from_signature`
reads the params and record models from the method's annotations (``params: Model`` and
``-> Iterator[Record]``); the connector (``govconnect._connector``) builds the service from both.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ._exceptions import Problem
from .catalog.model import ResourceFormat, SharingMethod, SharingType, UpdateCycle

__all__ = [
    "NoParams",
    "ServiceDeclaration",
    "ServiceMeta",
    "dataset",
    "models_from_signature",
    "positional_count",
    "query",
]

F = TypeVar("F", bound=Callable[..., Any])


class NoParams(BaseModel):
    """Parameters of a service that takes none."""

    model_config = ConfigDict(extra="forbid")


class ServiceMeta(BaseModel):
    """What a service declaration says about itself: the catalog metadata plus identity hints."""

    model_config = ConfigDict(extra="forbid")

    code: str
    name: str
    abstract: str
    sharing: SharingType
    update_cycle: UpdateCycle
    published: date
    conditions: str | None = None
    legal_basis: str | None = None
    sharing_method: SharingMethod | None = None
    method_note: str | None = None
    format: ResourceFormat | None = None
    format_detail: str | None = None
    open_to_public: bool = False
    open_conditions: str | None = None
    related: list[str] = Field(default_factory=list)
    version: int = Field(default=1, ge=1)
    key: str | None = None
    replication_key: str | None = None
    count: str | None = None
    split: str | None = None
    drafts: list[str] = Field(default_factory=list)
    authoritative: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class ServiceDeclaration:
    """What ``@query`` / ``@dataset`` recorded on a method, unchecked."""

    kind: Literal["query", "dataset"]
    meta: dict[str, Any]
    params: type[BaseModel] | None
    record: type[BaseModel] | None
    name: str | None


def _declare(kind: Literal["query", "dataset"]) -> Callable[..., Callable[[F], F]]:
    def decorator_factory(
        *,
        params: type[BaseModel] | None = None,
        record: type[BaseModel] | None = None,
        service_name: str | None = None,
        **meta: Any,
    ) -> Callable[[F], F]:
        def mark(fn: F) -> F:
            fn.__govconnect_service__ = ServiceDeclaration(kind, meta, params, record, service_name)  # type: ignore[attr-defined]
            return fn

        return mark

    decorator_factory.__name__ = kind
    return decorator_factory


query = _declare("query")
query.__doc__ = """Declare a query service: parameters in, matching records streamed out.

Keyword arguments are the catalog metadata (``code``, ``name``, ``abstract``, ``sharing``,
``conditions`` / ``legal_basis``, ``update_cycle``, ``published``, ``format``, ``sharing_method``,
``open_to_public``, ``related``, ``version``) and ``drafts``: the catalog paths of values filled
in as drafts (``"code"``, ``"sharing.type"``…, see ``govconnect.catalog.model.DRAFTABLE``) that a
person must still decide; the platform refuses a drafted resource until they are gone. The params and record models are read from the
function's annotations (``params: Model`` and ``-> Iterator[Record]``) unless given as ``params=`` /
``record=``."""

dataset = _declare("dataset")
dataset.__doc__ = """Declare a dataset service: the whole (or changed part of a) table, streamed.

Takes the same metadata as :func:`query` plus ``key`` (the field that identifies a record, required),
``replication_key`` (a field that only grows, e.g. ``updated_at``, for incremental publishing; records
are yielded in its order and a params field named ``since`` receives the bookmark), ``count`` (the
name of a connector method returning the row count, for progress and ETA), ``split`` (the name of a
connector method ``split(parts: int) -> list[key]`` returning ascending key values that cut the
dataset into about ``parts`` ranges of similar size, e.g. key quantiles; with params fields
``key_from`` / ``key_to`` that make the dataset yield only keys ``key_from <= key < key_to``, it
lets ``publish --workers N`` read ranges in parallel: docs/publishing.md) and ``authoritative`` (the
data elements, ``field(..., element=...)``, this dataset is the authoritative source of: 一数一源,
one per element and key type in a catalog; ``govconnect crosscheck`` names it in each conflict)."""


def _positional(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def positional_count(fn: Callable[..., Any]) -> int:
    return len(_positional(fn))


def models_from_signature(
    fn: Callable[..., Any], decl: ServiceDeclaration, where: str
) -> tuple[type[BaseModel] | None, type[BaseModel] | None, list[Problem]]:
    """Params and record models from ``params=`` / ``record=`` or else from the annotations."""
    problems: list[Problem] = []
    hint_error = ""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # e.g. a name defined only inside a function: params=/record= help
        hints, hint_error = {}, f" (annotations unreadable: {exc}; pass params= / record=)"
    positional = _positional(fn)
    if len(positional) not in (1, 2):
        problems.append(
            Problem(where, "service.signature", "a service takes (self) or (self, params)")
        )
    params_model = decl.params
    if params_model is None:
        params_model = hints.get(positional[1].name) if len(positional) == 2 else NoParams
    if not (isinstance(params_model, type) and issubclass(params_model, BaseModel)):
        message = "annotate params with a pydantic model" + hint_error
        problems.append(Problem(f"{where}.params", "service.params", message))
        params_model = None
    record_model = decl.record
    if record_model is None:
        ret = hints.get("return")
        if typing.get_origin(ret) in _STREAMS and typing.get_args(ret):
            record_model = typing.get_args(ret)[0]
            # Iterator[Record | dict[str, Any]]: the service yields mappings the SDK validates
            members = [
                a
                for a in typing.get_args(record_model)
                if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            if len(members) == 1:
                record_model = members[0]
    if not (isinstance(record_model, type) and issubclass(record_model, BaseModel)):
        message = "annotate the return as Iterator[RecordModel] (records stream) or pass record="
        problems.append(Problem(f"{where}.record", "service.record", message + hint_error))
        record_model = None
    return params_model, record_model, problems


_STREAMS = (Iterator, Iterable, Generator)
