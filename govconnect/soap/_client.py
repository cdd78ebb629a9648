"""Calling a legacy WebService: one operation per call, records streamed, pages followed.

:class:`SoapClient` wraps a zeep client so a connector's ``@query`` or ``@dataset`` is one line::

    def person(self, params: PersonQuery) -> Iterator[Person]:
        return self.soap.records("QueryPerson", params, Person, items="person")

Everything that can go wrong is translated at this boundary into the one exception tree: a SOAP
Fault is a :class:`SoapFaultError` naming code and string, a timeout, dropped connection, 429 or
5xx a :class:`RetryableError` retried by the SDK's :class:`RetryPolicy` before it reaches the
caller, a 4xx a :class:`LegacySystemError`, a value the WSDL refuses an :class:`InvalidInputError`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
import zeep
import zeep.exceptions
from lxml import etree
from pydantic import BaseModel
from zeep.helpers import serialize_object

from .._exceptions import (
    ConfigurationError,
    InvalidInputError,
    LegacySystemError,
    Problem,
    RetryableError,
    SoapFaultError,
)
from .._validation import validate_model
from ..exchange.retry import RetryPolicy
from ._schema import MessageField, message_fields, nest, path_value
from ._transport import LegacyTransport, SoapSecurity

__all__ = ["Cursor", "Pages", "SoapClient"]

M = TypeVar("M", bound=BaseModel)

RETRYABLE_STATUSES = frozenset({408, 425, 429})
"""HTTP answers below 500 that can succeed later: a timeout, too early, throttled."""

DEFAULT_RETRY = RetryPolicy(max_attempts=4, deadline=30.0, initial=0.5, max_wait=5.0)
"""Reads wait for a caller; a legacy service down for more than half a minute is down."""


@dataclass(frozen=True)
class Pages:
    """Page-number paging: ``page``/``size`` are the input elements, ``total`` (optional) the
    answer's total count. Stops at a short or empty page, at ``total``, or after ``max_pages``."""

    page: str = "pageNo"
    size: str = "pageSize"
    per_page: int = 100
    first: int = 1
    total: str | None = None
    max_pages: int = 100_000

    def start(self) -> dict[str, Any]:
        return {self.page: self.first, self.size: self.per_page}

    def following(
        self, current: dict[str, Any], answer: Any, rows: int, seen: int
    ) -> dict[str, Any] | None:
        total = path_value(answer, self.total) if self.total else None
        if rows < self.per_page or (total is not None and seen >= int(total)):
            return None
        if current[self.page] - self.first + 1 >= self.max_pages:
            return None
        return {**current, self.page: current[self.page] + 1}


@dataclass(frozen=True)
class Cursor:
    """Token paging: the answer's ``next`` path holds the token sent back as input ``param``."""

    param: str
    next: str
    max_pages: int = 100_000

    def start(self) -> dict[str, Any]:
        return {}

    def following(
        self, current: dict[str, Any], answer: Any, rows: int, seen: int
    ) -> dict[str, Any] | None:
        token = path_value(answer, self.next)
        if token in (None, "") or token == current.get(self.param) or not rows:
            return None
        return {self.param: token}


class SoapClient:
    """A legacy WebService described by a WSDL (a local file or URL).

    ``endpoint`` overrides the WSDL's ``soap:address`` (WSDLs from 2009 name hosts that moved);
    ``security`` carries UsernameToken / HTTP Basic / client certificate; ``encoding`` forces how
    answers are decoded (``gb18030``) when a service declares it wrongly; ``timeout`` bounds each
    HTTP exchange; ``retry`` is the SDK's policy for what can succeed later. ``name`` names the
    system in errors (default: the WSDL's service name).
    """

    def __init__(
        self,
        wsdl: str | Path,
        *,
        endpoint: str | None = None,
        security: SoapSecurity | None = None,
        timeout: float = 30.0,
        encoding: str | None = None,
        retry: RetryPolicy | None = None,
        service: str | None = None,
        port: str | None = None,
        name: str | None = None,
    ) -> None:
        self.security = security or SoapSecurity()
        self.retry = retry or DEFAULT_RETRY
        self.transport = LegacyTransport(
            session=self.security.session(), timeout=timeout, encoding=encoding
        )
        source = _redact(str(wsdl))
        try:
            self.zeep = zeep.Client(str(wsdl), transport=self.transport, wsse=self.security.wsse())
        except (OSError, requests.RequestException, zeep.exceptions.Error, etree.LxmlError) as exc:
            raise ConfigurationError(
                f"cannot read the WSDL {source}: {type(exc).__name__}: {_short(exc)}"
            ) from None
        try:
            chosen = (
                self.zeep.wsdl.services[service]
                if service
                else next(iter(self.zeep.wsdl.services.values()))
            )
            port_obj = chosen.ports[port] if port else next(iter(chosen.ports.values()))
        except (KeyError, StopIteration):
            raise ConfigurationError(
                f"the WSDL {source} has no service {service or ''} port {port or ''}".rstrip()
            ) from None
        self.binding = port_obj.binding
        self.endpoint = endpoint or port_obj.binding_options["address"]
        self.service = self.zeep.create_service(self.binding.name, self.endpoint)
        self.name = name or chosen.name
        self.wsdl = source

    # --- the schema ---------------------------------------------------------------------------

    @property
    def operations(self) -> list[str]:
        return sorted(self.binding._operations)

    def _operation(self, name: str) -> Any:
        try:
            return self.binding.get(name)
        except ValueError:
            raise ConfigurationError(
                f"{self.name} ({self.wsdl}) has no operation {name!r}; "
                f"it has: {', '.join(self.operations)}"
            ) from None

    def input_fields(self, operation: str) -> list[MessageField]:
        """The leaf fields of the operation's input message (dotted paths, required, type)."""
        return message_fields(self._operation(operation).input.body)

    def output_fields(self, operation: str) -> list[MessageField]:
        return message_fields(self._operation(operation).output.body)

    # --- calling ------------------------------------------------------------------------------

    def call(
        self,
        operation: str,
        params: BaseModel | Mapping[str, Any] | None = None,
        *,
        rename: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        **values: Any,
    ) -> Any:
        """Call ``operation`` once (retried per the policy) and answer plain dicts and lists.

        ``params`` (a model or mapping) and ``values`` fill the input message; ``rename`` maps a
        params field to its element path (``{"citizen_id": "sfzh"}``, dotted for nesting).
        ``headers`` are extra HTTP headers for this call (the sink's ``Idempotency-Key``).
        """
        output = self._operation(operation).output.body
        body = nest({**_flat(params, rename), **values})
        for attempt in self.retry.retrying(describe=f"SOAP {self.name}.{operation}"):
            with attempt:
                answer = self._once(operation, body, dict(headers or {}))
        # zeep hands back the only child of a one-child response instead of the response; put
        # the wrapper back so ``items`` paths read the same whatever the response's shape.
        xsd_type = getattr(output, "type", None)
        children = getattr(xsd_type, "elements", ())
        if len(children) == 1 and not getattr(xsd_type, "attributes", ()):
            return {children[0][0]: answer}
        return answer

    def _once(self, operation: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        where = {"system": self.name, "operation": operation}
        try:
            with self.zeep.settings(extra_http_headers=headers):
                result = self.service[operation](**body)
        except zeep.exceptions.Fault as exc:
            raise SoapFaultError(
                str(exc.code or "(no code)"),
                str(exc.message or ""),
                detail=_detail(exc.detail),
                **where,
            ) from None
        except zeep.exceptions.TransportError as exc:
            status = exc.status_code
            if status >= 500 or status in RETRYABLE_STATUSES:
                raise RetryableError(
                    f"{self.name} {operation}: legacy service answered HTTP {status}", status=status
                ) from None
            raise LegacySystemError(
                f"answered HTTP {status} with no SOAP answer", status=status, **where
            ) from None
        except requests.Timeout:
            raise RetryableError(
                f"{self.name} {operation}: no answer within {self.transport.operation_timeout} s"
            ) from None
        except requests.RequestException as exc:
            raise RetryableError(
                f"{self.name} {operation}: unreachable ({type(exc).__name__})"
            ) from None
        except (zeep.exceptions.ValidationError, TypeError) as exc:
            raise InvalidInputError(
                [Problem(f"{operation}.input", "soap.input", _short(exc))],
                summary=f"{self.name} {operation}: the input does not fit the WSDL",
            ) from None
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError) as exc:
            raise LegacySystemError(
                f"answered XML zeep cannot read: {_short(exc)}", **where
            ) from None
        return _plain(serialize_object(result, dict))

    def records(
        self,
        operation: str,
        params: BaseModel | Mapping[str, Any] | None = None,
        model: type[M] | None = None,
        *,
        items: str | None = None,
        fields: Mapping[str, str] | None = None,
        rename: Mapping[str, str] | None = None,
        paging: Pages | Cursor | None = None,
    ) -> Iterator[M]:
        """Stream the records an operation answers, following pages.

        ``items`` is the dotted path of the repeated element in the answer (``persons.person``);
        ``fields`` maps a record field to its path inside one item when the names differ
        (``{"citizen_id": "sfzh", "province": "zz.sheng"}``). Each item is validated into
        ``model``; a bad one raises :class:`InvalidInputError` naming operation, item and field.
        """
        page = paging.start() if paging else {}
        seen = 0
        while True:
            answer = self.call(operation, params, rename=rename, **page)
            rows = _rows(path_value(answer, items))
            for row in rows:
                seen += 1
                yield _record(model, row, fields, f"{self.name}.{operation}[{seen}]")
            following = paging.following(page, answer, len(rows), seen) if paging else None
            if following is None:
                return
            page = following

    def close(self) -> None:
        self.transport.session.close()


def _flat(
    params: BaseModel | Mapping[str, Any] | None, rename: Mapping[str, str] | None
) -> dict[str, Any]:
    if params is None:
        return {}
    data = params.model_dump(exclude_none=True) if isinstance(params, BaseModel) else dict(params)
    names = rename or {}
    return {names.get(k, k): v for k, v in data.items()}


def _rows(found: Any) -> list[Any]:
    if found is None:
        return []
    return list(found) if isinstance(found, list) else [found]


def _record(model: type[M] | None, row: Any, fields: Mapping[str, str] | None, where: str) -> Any:
    if model is None:
        return row
    names = fields or {}
    data = {
        name: value
        for name in model.model_fields
        if (value := path_value(row, names.get(name, name))) is not None
    }
    return validate_model(model, data, where)


def _plain(value: Any) -> Any:
    """zeep's answer as JSON-friendly dicts and lists (dates stay dates for the record models)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, etree._Element):
        return etree.tostring(value, method="text", encoding="unicode")
    return value


def jsonable(value: Any) -> Any:
    """An answer as JSON: dates ISO, decimals as text (for a sink's result reported upstream)."""
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _detail(detail: Any) -> str:
    if detail is None:
        return ""
    text = (
        etree.tostring(detail, method="text", encoding="unicode")
        if isinstance(detail, etree._Element)
        else str(detail)
    )
    return _short(" ".join(text.split()))


def _redact(source: str) -> str:
    """A WSDL location fit for messages: credentials in ``user:password@host`` left out."""
    parts = urlsplit(source)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))
    return source


def _short(exc: object, limit: int = 300) -> str:
    text = str(exc)
    return text if len(text) <= limit else text[: limit - 1] + "…"
