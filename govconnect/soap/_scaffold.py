"""Drafting a connector from a WSDL: records from its types, a query service per operation.

This module reads the WSDL into :class:`DraftService` sketches; ``_draft_module`` writes them.

``govconnect new connector --from-wsdl`` renders the ``soap`` template and adds the module this
writes. The draft is complete enough to install, pass its tests against the SOAP fake and pass
``govconnect check``; what only people may decide is marked as a draft in the code: resource
codes, sharing and its conditions, and every suggested classification level and personal flag.
Titles come from ``xsd:documentation`` where the WSDL has it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from lxml import etree
from zeep.xsd import ComplexType

from .._exceptions import ConfigurationError
from ..catalog.names import identifier
from ._client import SoapClient
from ._schema import nest, python_type

__all__ = ["DraftField", "DraftService", "draft_services"]

XSD = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
SAMPLE_CITIZEN_ID = "11010519491231002X"


class DataElement(Protocol):
    """What a name tells of the element it carries (``govconnect.discovery``'s ``Term``)."""

    title: str
    kind: str | None

    @property
    def personal(self) -> bool: ...


Namer = Callable[[str, str], "DataElement | None"]
"""``(element name, its documentation) → the data element``, or ``None`` when the name says
nothing. ``govconnect new connector --from-wsdl`` passes discovery's dictionary, so a WSDL is
classified with the same suggestions as a database (``docs/discovery.md``)."""

#: For the kinds that have a field type of their own: the Python type the element must have, the
#: type to declare, and a sample value the masking check accepts.
_KINDS: dict[str, tuple[type, str, Any]] = {
    "citizen_id": (str, "CitizenId", SAMPLE_CITIZEN_ID),
    "credit_code": (str, "CreditCode", "91350100M000100Y43"),
    "name": (str, "str", "张三"),
    "phone": (str, "str", "13800138000"),
    "address": (str, "str", "北京市朝阳区示例路1号"),
    "birth_date": (date, "date", "1949-12-31"),
}
_SAMPLES: dict[type, Any] = {
    bool: True,
    int: 1,
    float: 1.5,
    Decimal: "1.00",
    datetime: "2020-01-01T08:00:00",
    date: "2020-01-01",
    str: "示例",
}


@dataclass(frozen=True)
class DraftField:
    """One field of a drafted params or record model, and where it sits in the message."""

    name: str
    path: str
    annotation: str
    title: str
    level: str
    personal: bool
    required: bool
    sample: Any


@dataclass(frozen=True)
class DraftService:
    """A query service drafted from one operation."""

    operation: str
    service: str
    title: str
    params: tuple[DraftField, ...]
    items: str | None
    record: tuple[DraftField, ...]
    sample_answer: dict[str, Any]

    @property
    def stem(self) -> str:
        return "".join(part.title() for part in self.service.split("_"))


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _documentation(source: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """Titles from the WSDL: element name → xsd:documentation, operation → wsdl:documentation."""
    root = etree.fromstring(source)
    elements = {}
    for el in root.iter(f"{{{XSD}}}element"):
        text = el.findtext(f"{{{XSD}}}annotation/{{{XSD}}}documentation")
        if el.get("name") and text and text.strip():
            elements.setdefault(el.get("name"), text.strip())
    operations = {}
    for op in root.iterfind(f"{{{WSDL}}}portType/{{{WSDL}}}operation"):
        text = op.findtext(f"{{{WSDL}}}documentation")
        if text and text.strip():
            operations[op.get("name")] = text.strip()
    return elements, operations


def _leaves(
    xsd_type: Any, prefix: str, required: bool, depth: int = 0
) -> Iterator[tuple[str, Any, bool]]:
    """Simple, non-repeated leaves below a type: (path, xsd type, required)."""
    for name, child in getattr(xsd_type, "elements", ()):
        if child.accepts_multiple:
            continue  # arrays inside an item are left to the person writing the connector
        need = required and not child.is_optional
        if isinstance(child.type, ComplexType):
            if depth < 4:
                yield from _leaves(child.type, f"{prefix}{name}.", need, depth + 1)
            continue
        yield f"{prefix}{name}", child.type, need


def _items(xsd_type: Any, prefix: str = "", depth: int = 0) -> tuple[str, Any] | None:
    """The first repeated complex element of an answer: the path records are read from."""
    for name, child in getattr(xsd_type, "elements", ()):
        if isinstance(child.type, ComplexType):
            if child.accepts_multiple:
                return f"{prefix}{name}", child.type
            if depth < 4 and (found := _items(child.type, f"{prefix}{name}.", depth + 1)):
                return found
    return None


def _field(
    path: str,
    xsd_type: Any,
    required: bool,
    titles: dict[str, str],
    taken: set[str],
    namer: Namer | None,
) -> DraftField:
    leaf = path.rsplit(".", 1)[-1]
    documented = titles.get(leaf)
    python = python_type(xsd_type)
    element = namer(leaf, documented or "") if namer else None
    title = documented or (element.title if element else leaf)
    annotation = {
        bool: "bool",
        int: "int",
        float: "float",
        Decimal: "Decimal",
        datetime: "datetime",
        date: "date",
    }.get(python, "str")
    sample = _SAMPLES.get(python, "示例")
    kind = _KINDS.get(element.kind or "") if element else None
    if kind is not None and kind[0] is python:
        _, annotation, sample = kind
    personal = bool(element and element.personal)
    return DraftField(
        identifier(leaf, taken, "field"),
        path,
        annotation,
        title,
        "SENSITIVE" if personal else "INTERNAL",
        personal,
        required,
        sample,
    )


def draft_services(
    wsdl: str | Path, operations: Sequence[str] = (), namer: Namer | None = None
) -> tuple[bytes, list[DraftService]]:
    """The WSDL's bytes and a drafted service per operation (``operations``, or every operation
    whose answer holds records: a repeated complex element, or a complex answer). ``namer``
    suggests titles, types and classification from element names; without it every element is
    drafted as plain ``internal`` data."""
    client = SoapClient(wsdl)
    try:
        source = client.transport.load(str(wsdl))
        titles, op_titles = _documentation(source)
        unknown = sorted(set(operations) - set(client.operations))
        if unknown:
            raise ConfigurationError(
                f"the WSDL has no operation(s) {', '.join(unknown)}; it has: {', '.join(client.operations)}"
            )
        drafts = []
        for op_name in operations or client.operations:
            op = client.binding.get(op_name)
            found = _items(op.output.body.type)
            if found is None and not operations:
                continue  # a write (an acknowledgement answer): an intake target, not a service
            items, item_type = found if found else (None, op.output.body.type)
            taken: set[str] = set()
            params = tuple(
                _field(p, t, r, titles, taken, namer)
                for p, t, r in _leaves(op.input.body.type, "", True)
            )
            taken = set()
            record = tuple(
                _field(p, t, r, titles, taken, namer) for p, t, r in _leaves(item_type, "", True)
            )
            if not record:
                continue
            item = nest({f.path: f.sample for f in record})
            answer = _sample(op.output.body.type, items, item) if items else item
            title = op_titles.get(op_name, op_name)
            drafts.append(
                DraftService(op_name, _snake(op_name), title, params, items, record, answer)
            )
    finally:
        client.close()
    if not drafts:
        raise ConfigurationError(
            "the WSDL has no operation that answers records; name one with --operation"
        )
    return source, drafts


def _sample(xsd_type: Any, items: str, item: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A whole answer in schema order: one sample item at ``items``, samples for the required
    elements around it (a fake answer without a required ``total`` is one zeep refuses)."""
    out: dict[str, Any] = {}
    for name, child in getattr(xsd_type, "elements", ()):
        path = f"{prefix}{name}"
        if path == items:
            out[name] = [item]
        elif child.accepts_multiple:
            continue
        elif isinstance(child.type, ComplexType):
            if items.startswith(f"{path}.") or not child.is_optional:
                out[name] = _sample(child.type, items, item, f"{path}.")
        elif not child.is_optional:
            out[name] = _SAMPLES.get(python_type(child.type), "示例")
    return out
