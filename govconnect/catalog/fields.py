"""Record fields as catalog information items (信息项): type code, length, classification.

A department developer declares each record field with :func:`field`::

    class Resident(Record):
        citizen_id: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
        name: str = field("姓名", level=Level.SENSITIVE, personal=True, max_length=50)

The catalog's data type code (C, N, Y, D, T, L, M, G, B, I, F) is derived from the pydantic type
and can be overridden with ``data_type=``; the length comes from ``max_length`` / ``max_digits``.
The declaration travels in the field's JSON schema as ``x-`` extensions, so every generated schema
(OpenAPI, gateway responses) carries the classification with it.

``element=`` names the data element (数据元) a field carries, e.g. ``element="姓名"``: fields of
different connectors that name one element hold the same fact about the same person or company, which
is what the multi-source cross-check (多源校核, ``govconnect crosscheck``) compares. ``code_table=``
names the code table (``registry.code_tables``) whose codes and labels the field's values may use, so a
code in one system and its label in another are not reported as a conflict.
"""

from __future__ import annotations

import types
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer
from pydantic.fields import FieldInfo

from .._exceptions import Problem
from .classification import Level
from .identity import _IdentityStr

__all__ = ["DataType", "InformationItem", "Record", "field", "information_items"]

X_LEVEL = "x-classification"
X_PERSONAL = "x-personal-information"
X_TYPE = "x-data-type"
X_LENGTH = "x-length"
X_ELEMENT = "x-data-element"
X_CODE_TABLE = "x-code-table"


class DataType(StrEnum):
    """Data type codes of the national resource-catalog guideline."""

    CHAR = "C"
    NUMERIC = "N"
    CURRENCY = "Y"
    DATE = "D"
    DATETIME = "T"
    LOGICAL = "L"
    MEMO = "M"
    GENERAL = "G"
    DOUBLE = "B"
    INTEGER = "I"
    FLOAT = "F"

    @property
    def label(self) -> str:
        return _TYPE_LABELS[self]


_TYPE_LABELS = {
    DataType.CHAR: "字符型",
    DataType.NUMERIC: "数值型",
    DataType.CURRENCY: "货币型",
    DataType.DATE: "日期型",
    DataType.DATETIME: "日期时间型",
    DataType.LOGICAL: "逻辑型",
    DataType.MEMO: "备注型",
    DataType.GENERAL: "通用型",
    DataType.DOUBLE: "双精度型",
    DataType.INTEGER: "整型",
    DataType.FLOAT: "浮点型",
}


class Record(BaseModel):
    """Base class for the records a service yields: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InformationItem(BaseModel):
    """One information item of a catalog resource, as the catalog document carries it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="field name in records")
    title: str = Field(description="信息项名称, the item's name for people")
    data_type: DataType
    length: int | None = Field(default=None, ge=1)
    description: str | None = None
    level: Level
    personal: bool
    required: bool = True
    element: str | None = Field(
        default=None,
        description="数据元: the data element the item carries, shared across resources",
    )

    @model_serializer(mode="wrap")
    def _omit_no_element(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """An item that names no element is exported exactly as before elements existed, so
        catalogs already registered with the platform do not all read as changed."""
        data: dict[str, Any] = handler(self)
        if self.element is None:
            data.pop("element", None)
        return data


def field(
    title: str,
    *,
    level: Level | str,
    personal: bool = False,
    data_type: DataType | str | None = None,
    length: int | None = None,
    description: str | None = None,
    element: str | None = None,
    code_table: str | None = None,
    default: Any = ...,
    **kwargs: Any,
) -> Any:
    """Declare a record field as a classified information item.

    ``level`` and ``personal`` are mandatory in spirit: a record field declared without them is a
    load-time error naming connector, service and field. Other keyword arguments go to
    :func:`pydantic.Field` (``max_length``, ``pattern``, ``ge``…). ``element`` names the data
    element the field carries (compared across sources by the cross-check) and ``code_table`` the
    code table its values are codes or labels of.
    """
    extra: dict[str, Any] = {X_LEVEL: Level(level).value, X_PERSONAL: personal}
    if data_type is not None:
        extra[X_TYPE] = DataType(data_type).value
    if length is not None:
        extra[X_LENGTH] = length
    if element is not None:
        if not element.strip():
            raise ValueError("element= names a data element; it must not be blank")
        extra[X_ELEMENT] = element.strip()
    if code_table is not None:
        extra[X_CODE_TABLE] = code_table
    return Field(default, title=title, description=description, json_schema_extra=extra, **kwargs)


def information_items(
    model: type[BaseModel], where: str
) -> tuple[list[InformationItem], list[Problem]]:
    """The information items of a record model, and a problem for every field that is not
    classified or whose type has no catalog data type code. ``where`` prefixes problem paths."""
    items: list[InformationItem] = []
    problems: list[Problem] = []
    for name, info in model.model_fields.items():
        path = f"{where}.{name}"
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        missing = [
            k for k, key in (("level", X_LEVEL), ("personal", X_PERSONAL)) if key not in extra
        ]
        if missing:
            problems.append(
                Problem(
                    path,
                    "item.classified",
                    f"field {name!r} declares no {' and no '.join(missing)}; "
                    "use govconnect.field(title, level=..., personal=...)",
                )
            )
            continue
        code = extra.get(X_TYPE) or _derive_type(info.annotation)
        if code is None:
            problems.append(
                Problem(
                    path,
                    "item.typed",
                    f"no catalog data type for {info.annotation!r}; pass data_type=",
                )
            )
            continue
        try:
            level = Level(str(extra[X_LEVEL]))
        except ValueError:
            problems.append(Problem(path, "item.level", f"unknown level {extra[X_LEVEL]!r}"))
            continue
        items.append(
            InformationItem(
                name=name,
                title=info.title or name,
                data_type=DataType(str(code)),
                length=_length(info, extra),
                description=info.description,
                level=level,
                personal=bool(extra[X_PERSONAL]),
                required=info.is_required(),
                element=extra.get(X_ELEMENT),
            )
        )
    return items, problems


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``Optional`` so the base type decides the code."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _derive_type(annotation: Any) -> str | None:
    base = _unwrap(annotation)
    origin = get_origin(base)
    if origin is Literal:
        values = get_args(base)
        return "I" if all(isinstance(v, int) and not isinstance(v, bool) for v in values) else "C"
    if origin in (list, dict, tuple, set, frozenset):
        return "G"
    if not isinstance(base, type):
        return None
    checks: list[tuple[type, str]] = [
        (_IdentityStr, "C"),
        (bool, "L"),
        (Enum, "C"),
        (str, "C"),
        (int, "I"),
        (float, "F"),
        (Decimal, "N"),
        (datetime, "T"),
        (date, "D"),
        (bytes, "G"),
        (BaseModel, "G"),
    ]
    for cls, code in checks:
        if issubclass(base, cls):
            return code
    return None


def _length(info: FieldInfo, extra: dict[str, Any]) -> int | None:
    if X_LENGTH in extra:
        return int(extra[X_LENGTH])
    if isinstance(_unwrap(info.annotation), type) and issubclass(
        _unwrap(info.annotation), _IdentityStr
    ):
        return 18
    for meta in info.metadata:
        if isinstance(meta, annotated_types.MaxLen):
            return meta.max_length
        max_digits = getattr(meta, "max_digits", None)
        if max_digits is not None:
            return int(max_digits)
    return None
