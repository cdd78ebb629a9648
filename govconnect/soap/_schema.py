"""What a WSDL says: operations, and the fields of their messages as dotted paths with types.

Intake targets (which fields an operation's input has, which are required), the params of a
reading call and the scaffolder all need the same walk over zeep's parsed schema; it lives here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from zeep.xsd import ComplexType

__all__ = ["MessageField", "message_fields", "nest", "path_value", "python_type"]

_MAX_DEPTH = 8
"""Recursive types (a Person with a spouse: Person) are cut here; nobody maps deeper."""


@dataclass(frozen=True)
class MessageField:
    """One leaf of a message: ``sqr.zz.sheng``. ``required`` holds when it and every element
    above it must occur; ``repeated`` when it, or an element above it, may occur many times."""

    path: str
    python: type
    required: bool
    repeated: bool
    xsd: str


def python_type(xsd_type: Any) -> type:
    """The Python type zeep produces for an xsd simple type (str for anything unknown)."""
    accepted = [t for t in getattr(xsd_type, "accepted_types", ()) if t is not str]
    for candidate in (bool, datetime, date, time, Decimal, int, float):
        if candidate in accepted:
            return candidate
    return str


def message_fields(element: Any) -> list[MessageField]:
    """The leaf fields of a message's body element (document/literal: its wrapper's children).

    An element of complex type counts as a leaf when it repeats (an array of materials is mapped
    as one list value) or when the walk reaches ``_MAX_DEPTH``.
    """
    return list(_walk(element.type, "", True, False, 0))


def _walk(
    xsd_type: Any, prefix: str, required: bool, repeated: bool, depth: int
) -> Iterator[MessageField]:
    for name, child in getattr(xsd_type, "elements", ()):
        path = f"{prefix}{name}"
        need = required and not child.is_optional
        many = repeated or bool(child.accepts_multiple)
        kind = child.type
        if isinstance(kind, ComplexType) and not child.accepts_multiple and depth < _MAX_DEPTH:
            yield from _walk(kind, f"{path}.", need, many, depth + 1)
            continue
        python = (
            list
            if child.accepts_multiple
            else (dict if isinstance(kind, ComplexType) else python_type(kind))
        )
        yield MessageField(path, python, need, many, getattr(kind, "name", None) or str(kind))


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """``{"sqr.xm": "张三"}`` → ``{"sqr": {"xm": "张三"}}``: mapped values as a message body."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def path_value(data: Any, path: str | None) -> Any:
    """The value at a dotted path of a serialised answer (``None`` when any step is missing)."""
    if not path:
        return data
    for part in path.split("."):
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data
