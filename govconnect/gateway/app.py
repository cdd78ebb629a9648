"""The department gateway: an ASGI app serving catalogued query services to authorised consumers.

Every data path goes through the same steps, in this order, and every outcome is audited:

1. authenticate (bearer token hashed and looked up; or a client-certificate subject from a trusted
   proxy header) — unknown consumer: 401;
2. find the service (404) and authorise it: granted, shared, purpose stated and allowed — 403 with
   the reason;
3. validate paging and parameters — 422 naming the field and rule;
4. run the connector in a worker thread, read one bounded page (never the whole table), remove
   fields above the consumer's level, mask personal information unless granted;
5. append the audit record (hash-chained) and only then answer, with the SM3 hash of the canonical
   request in the body and in ``X-Request-Hash``.

The OpenAPI document served at ``/openapi.json`` is :func:`govconnect.to_openapi` of the served
services plus the discovery and operations paths, so what is documented is what is served.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import logging
import os
import random
import secrets
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._connector import Connector, Service
from .._exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    Problem,
)
from .._export import GATEWAY_PARAMETERS, service_path, to_openapi
from .._registry import Registry
from .._validation import validate_model
from .audit import AuditLog
from .metrics import Metrics
from .openapi import discovery_paths
from .policy import Consumer, GatewayConfig, Policy, digest

__all__ = ["Gateway", "canonical_request", "create_app", "request_hash"]

log = logging.getLogger("govconnect.gateway")

_MAX_HEADER = 128
_WORKERS = 40  # threads for legacy calls, as many as Starlette's default thread limiter allows

# Message ids the gateway makes up for calls that sent none. They only correlate a call with its
# audit record (a consumer may choose its own), so they need to be unique, not unpredictable:
# a seeded generator (re-seeded in forked workers) saves the ``getrandom`` system call of
# ``uuid4`` — a call that also hands the GIL to the worker threads.
_ids = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _ids.seed(secrets.randbits(128)))


def _new_message_id() -> str:
    """A random UUID4 as 32 hex digits (what ``uuid.uuid4().hex`` gives): the version and variant
    bits set as ``uuid.UUID(int=..., version=4)`` sets them."""
    n = _ids.getrandbits(128)
    n = (n & ~(0xC000 << 48) | (0x8000 << 48)) & ~(0xF000 << 64) | (4 << 76)
    return f"{n:032x}"


def _unquote_plus(text: str) -> str:
    """One name or value of a query string, decoded as ``urllib.parse.parse_qsl`` does."""
    if "+" in text:
        text = text.replace("+", " ")
    return unquote(text) if "%" in text else text


# The stated purpose is one of a few configured phrases, percent-encoded UTF-8 (slow to decode in
# Python): decoded once each. Only ``purpose`` is cached, never a service parameter.
_unquote_purpose = lru_cache(maxsize=256)(_unquote_plus)


def _parse_query(raw: bytes) -> list[tuple[str, str]]:
    """``parse_qsl(raw.decode("latin-1"), keep_blank_values=True)`` — what Starlette's
    ``request.query_params`` is built from — with the ``purpose`` value's decoding cached."""
    pairs: list[tuple[str, str]] = []
    if not raw:
        return pairs
    for part in raw.decode("latin-1").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = _unquote_plus(name)
        pairs.append((name, _unquote_purpose(value) if name == "purpose" else _unquote_plus(value)))
    return pairs


def canonical_request(
    *,
    service: str,
    consumer: str | None,
    params: Mapping[str, str | Sequence[str]],
    purpose: str | None = None,
    page: str | None = None,
    page_size: str | None = None,
    message_id: str | None = None,
) -> bytes:
    """The bytes the request hash is taken over: compact JSON, keys sorted, UTF-8 (no escapes
    beyond JSON's own; ``json.dumps(doc, sort_keys=True, ensure_ascii=False,
    separators=(",", ":"))`` produces the same bytes).

    A consumer recomputes it from what it sent (the raw query-string values, the message id it
    sent or got back in ``X-Message-Id``) to prove later which answer belonged to which query.
    """
    doc = {
        "consumer": consumer,
        "message_id": message_id,
        "method": "GET",
        "page": page,
        "page_size": page_size,
        "params": {k: (v if isinstance(v, str) else list(v)) for k, v in sorted(params.items())},
        "purpose": purpose,
        "service": service,
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def request_hash(**parts: Any) -> str:
    """SM3 (hex) of :func:`canonical_request` — what the gateway returns as ``request_hash``."""
    return digest(canonical_request(**parts))


class _NotFound(Exception):
    pass


@dataclass
class _Call:
    """What the gateway knows about one service call before serving it."""

    service_id: str
    consumer: Consumer | None
    params: dict[str, str | list[str]]
    params_digest: str
    purpose: str | None
    page: str | None
    page_size: str | None
    message_id: str
    case_id: str | None
    officer: str | None
    request_hash: str = ""


@dataclass
class _Outcome:
    status: int
    body: dict[str, Any]
    outcome: str
    reason: str | None = None
    rows: int = 0
    fields: Sequence[str] = ()
    withheld: Sequence[str] = ()
    masked: Sequence[str] = ()


DISCOVERY_SERVICE = "(discovery: allowed services)"
"""The service name under which ``/services/allowed`` calls are audited."""


def _error(status: int, error: str, message: str, problems: Sequence[Problem] = ()) -> _Outcome:
    body: dict[str, Any] = {"error": error, "message": message}
    if problems:
        body["problems"] = [p.as_dict() for p in problems]
    return _Outcome(status, body, outcome=error, reason=message)


class Gateway:
    """Policy, audit log, connector instances and metrics behind one ASGI app (:attr:`app`).

    The app may be started and stopped several times (test clients run the ASGI lifespan per
    session), so it does not close anything on shutdown: whoever built the gateway calls
    :meth:`close` when done, as ``govconnect serve`` does after uvicorn returns."""

    def __init__(
        self,
        registry: Registry,
        config: GatewayConfig,
        *,
        audit: AuditLog | str | Path | None = None,
    ) -> None:
        self.registry = registry
        self.config = config
        self.settings = config.gateway
        self.services = [s for s in registry.services() if s.kind == "query"]
        for svc in self.services:
            clash = set(GATEWAY_PARAMETERS) & set(svc.params_model.model_fields)
            if clash:
                raise ConfigurationError(
                    f"{svc.qualified_name} declares parameter(s) {sorted(clash)} that the gateway "
                    "reserves; rename them"
                )
        self.routes = {svc.id: svc for svc in self.services}
        self.policy = Policy(config, self.services)
        if isinstance(audit, AuditLog):
            self.audit, self._owns_audit = audit, False
        else:
            path = audit or self.settings.audit_log or registry.config.state_dir / "audit.sqlite"
            self.audit, self._owns_audit = AuditLog(path), True
        self.audit.params_digest({})  # load (or create) the digest key now, not mid-request
        settings_overlay = config.connectors
        self.connectors: dict[str, Connector] = {}
        for name in sorted({s.connector.name for s in self.services}):
            self.connectors[name] = registry.connector(name, settings_overlay.get(name))
        self.metrics = Metrics()
        cert_header = self.settings.client_cert_header
        self._cert_header = cert_header.lower().encode("latin-1") if cert_header else None
        self._wanted_headers = frozenset(
            {b"authorization", b"x-message-id", b"x-case-id", b"x-handling-officer"}
            | ({self._cert_header} if self._cert_header else set())
        )
        # Service calls hop to these threads with ``loop.run_in_executor``: the same one hop per
        # call as ``run_in_threadpool``, at about half its CPU cost (no AnyIO limiter and
        # cancel scopes around it). Threads start when first needed.
        self._executor = ThreadPoolExecutor(_WORKERS, thread_name_prefix="govconnect-gateway")
        self._page_key = secrets.token_bytes(32)  # signs next_page tokens of this process
        self.openapi = to_openapi(
            self.services, title=self.settings.title, max_page_size=self.settings.max_page_size
        )
        self.openapi["paths"].update(discovery_paths())
        self._openapi_bytes = orjson.dumps(self.openapi)
        self.app = self._build_app()

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        for connector in self.connectors.values():
            connector.close()
        if self._owns_audit:
            self.audit.close()

    # --- app ----------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        # Service calls are nearly all the traffic: their route is tried second, right after the
        # one path it would otherwise swallow (Starlette tries routes in order, one regex each).
        routes = [
            Route("/services/allowed", self._list_allowed),
            Route("/services/{service_id:path}", self._call),
            Route("/services", self._list_all),
            Route("/healthz", self._healthz),
            Route("/readyz", self._readyz),
            Route("/metrics", self._metrics),
            Route("/openapi.json", self._openapi),
        ]
        return Starlette(routes=routes)

    @staticmethod
    def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
        return Response(orjson.dumps(body), status, headers, media_type="application/json")

    async def _healthz(self, request: Request) -> Response:
        return self._json(200, {"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        try:
            seq, _ = await run_in_threadpool(self.audit.head)
        except Exception as exc:  # any failure means "not ready", reported without internals
            log.warning("readiness: audit log unavailable (%s)", type(exc).__name__)
            return self._json(503, {"status": "unavailable", "audit_log": "unavailable"})
        return self._json(
            200,
            {"status": "ready", "services": len(self.services), "audit_records": seq},
        )

    async def _metrics(self, request: Request) -> Response:
        return Response(
            self.metrics.render(),
            200,
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    async def _openapi(self, request: Request) -> Response:
        return Response(self._openapi_bytes, 200, media_type="application/json")

    def _describe(self, svc: Service) -> dict[str, Any]:
        r = svc.resource
        return {
            "id": svc.id,
            "code": r.code,
            "name": r.name,
            "abstract": r.abstract,
            "provider": r.provider.code,
            "path": service_path(svc),
            "sharing": r.sharing.type.value,
            "conditions": r.sharing.conditions,
            "fields": [
                {"name": i.name, "title": i.title, "level": i.level.value, "personal": i.personal}
                for i in r.items
            ],
        }

    async def _list_all(self, request: Request) -> Response:
        """X-Road's listMethods: every service this gateway serves (catalog metadata only)."""
        return self._json(200, {"services": [self._describe(s) for s in self.services]})

    async def _list_allowed(self, request: Request) -> Response:
        """X-Road's allowedMethods: what *this* consumer may call, and what it would see.

        Audited like a service call (a refused one too): a credential that is tried here leaves
        the same trace as one tried on a service."""
        message_id = _header(request.headers, "x-message-id") or _new_message_id()
        try:
            consumer = self._authenticate(request)
        except AuthenticationError as exc:
            out = _error(401, "unauthenticated", exc.reason, exc.problems)
            if not await self._audit_discovery(None, out.outcome, 401, message_id, exc.reason):
                out = _error(503, "audit_unavailable", "the audit log is unavailable")
                return self._json(503, out.body)
            return self._json(401, out.body, {"WWW-Authenticate": "Bearer"})
        allowed = []
        for svc in self.services:
            if not self.policy.may_call(consumer, svc):
                continue
            view = self.policy.view(consumer, svc)
            entry = self._describe(svc)
            entry.update(
                purposes=list(self.policy.allowed_purposes(consumer, svc)),
                returned_fields=list(view.returned),
                masked_fields=list(view.masked),
                withheld_fields=list(view.withheld),
            )
            allowed.append(entry)
        if not await self._audit_discovery(consumer.id, "ok", 200, message_id, None):
            out = _error(503, "audit_unavailable", "the audit log is unavailable; nothing served")
            return self._json(503, out.body)
        return self._json(200, {"consumer": consumer.id, "services": allowed})

    async def _audit_discovery(
        self, consumer: str | None, outcome: str, status: int, message_id: str, reason: str | None
    ) -> bool:
        try:
            await run_in_threadpool(
                lambda: self.audit.write(
                    consumer=consumer,
                    service=DISCOVERY_SERVICE,
                    outcome=outcome,
                    status=status,
                    message_id=message_id,
                    reason=reason,
                )
            )
        except Exception as exc:  # nothing is served that is not audited
            log.error(
                "audit append failed (%s); refusing discovery %s", type(exc).__name__, message_id
            )
            return False
        return True

    def _authenticate(self, request: Request) -> Consumer:
        header = self.settings.client_cert_header
        subject = request.headers.get(header) if header else None
        return self.policy.authenticate(request.headers.get("authorization"), subject)

    def _call_headers(self, request: Request) -> dict[bytes, str]:
        """The headers a service call reads, in one pass over the raw list (the first of each
        name counts, as ``request.headers.get`` has it): a missing header costs no KeyError."""
        wanted = self._wanted_headers
        found: dict[bytes, str] = {}
        for name, value in request.scope["headers"]:
            if name in wanted and name not in found:
                found[name] = value.decode("latin-1")
        return found

    # --- service calls ------------------------------------------------------------------------

    async def _call(self, request: Request) -> Response:
        started = time.perf_counter()
        service_id = request.path_params["service_id"]
        # As Starlette's QueryParams: the last value of a reserved parameter counts; a service
        # parameter given twice is a list, in the order given.
        reserved: dict[str, str] = {}
        params: dict[str, str | list[str]] = {}
        for key, value in _parse_query(request.scope["query_string"]):
            if key in GATEWAY_PARAMETERS:
                reserved[key] = value
            elif key not in params:
                params[key] = value
            else:
                seen = params[key]
                if isinstance(seen, list):
                    seen.append(value)
                else:
                    params[key] = [seen, value]
        raw_purpose = reserved.get("purpose")
        purpose = raw_purpose or None  # an empty purpose states none
        page = reserved.get("page")
        page_size = reserved.get("page_size")
        headers = self._call_headers(request)
        message_id = _header(headers, b"x-message-id") or _new_message_id()
        consumer: Consumer | None = None
        refusal: _Outcome | None = None
        try:
            cert = self._cert_header
            consumer = self.policy.authenticate(
                headers.get(b"authorization"), headers.get(cert) if cert else None
            )
        except AuthenticationError as exc:
            refusal = _error(401, "unauthenticated", exc.reason, exc.problems)
        call = _Call(
            service_id=service_id,
            consumer=consumer,
            params=params,
            params_digest=self.audit.params_digest(params),
            purpose=purpose,
            page=page,
            page_size=page_size,
            message_id=message_id,
            case_id=_header(headers, b"x-case-id"),
            officer=_header(headers, b"x-handling-officer"),
        )
        call.request_hash = request_hash(
            service=service_id,
            consumer=consumer.id if consumer else None,
            params=params,
            purpose=raw_purpose,
            page=page,
            page_size=page_size,
            message_id=message_id,
        )
        # one worker-thread hop for the legacy call, the audit append and the encoding
        loop = asyncio.get_running_loop()
        out, body = await loop.run_in_executor(self._executor, self._handle, call, refusal)
        known = service_id if service_id in self.routes else "(unknown)"
        self.metrics.observe(known, out, time.perf_counter() - started)
        reply_headers = {"X-Request-Hash": call.request_hash, "X-Message-Id": message_id}
        if out.status == 401:
            reply_headers["WWW-Authenticate"] = "Bearer"
        return Response(body, out.status, reply_headers, media_type="application/json")

    def _handle(self, call: _Call, refusal: _Outcome | None) -> tuple[_Outcome, bytes]:
        """Serve (unless already refused), audit, encode — in a worker thread."""
        out = refusal
        if out is None:
            assert call.consumer is not None
            out = self._serve(call.consumer, call)
        out.body["request_hash"] = call.request_hash
        try:
            self.audit.write(
                consumer=call.consumer.id if call.consumer else None,
                service=call.service_id,
                purpose=call.purpose,
                params_digest=call.params_digest,
                request_hash=call.request_hash,
                message_id=call.message_id,
                case_id=call.case_id,
                officer=call.officer,
                fields=out.fields,
                withheld=out.withheld,
                masked=out.masked,
                rows=out.rows,
                outcome=out.outcome,
                status=out.status,
                reason=out.reason,
            )
        except Exception as exc:  # nothing is served that is not audited
            log.error("audit append failed (%s); refusing %s", type(exc).__name__, call.message_id)
            out = _error(503, "audit_unavailable", "the audit log is unavailable; nothing served")
            out.body["request_hash"] = call.request_hash
        return out, orjson.dumps(out.body)

    def _serve(self, consumer: Consumer, call: _Call) -> _Outcome:
        """Authorise, validate, run and shape one call (in a worker thread)."""
        service_id, params = call.service_id, call.params
        svc = self.routes.get(service_id)
        try:
            if svc is None:
                raise _NotFound(service_id)
            self.policy.authorize(consumer, svc, call.purpose)
            size = self._page_size(call.page_size)
            params_key = call.params_digest[:16]
            offset = _decode_page(call.page, params_key, self._page_key)
            view = self.policy.view(consumer, svc)
            checked = validate_model(svc.params_model, params, "params")
        except _NotFound:
            return _error(404, "not_found", f"this gateway serves no service {service_id!r}")
        except AccessDeniedError as exc:
            return _error(403, "forbidden", exc.reason, exc.problems)
        except InvalidInputError as exc:
            problems = [
                Problem(p.field.removeprefix("params."), p.rule, p.message) for p in exc.problems
            ]
            return _error(422, "invalid_params", "invalid parameters", problems)
        try:
            records = self.connectors[svc.connector.name].run(svc, checked)
            try:
                chunk = list(itertools.islice(records, offset, offset + size + 1))
            finally:
                close = getattr(records, "close", None)
                if close is not None:
                    close()
            more = len(chunk) > size
            rows = [view.apply(r.model_dump(mode="json")) for r in chunk[:size]]
        except Exception as exc:  # the legacy system (or a dirty row) failed: no stack trace out
            log.error("service %s failed for %s: %s", service_id, consumer.id, type(exc).__name__)
            return _error(502, "legacy_failure", f"{service_id} failed in the legacy system")
        body = {
            "service": svc.id,
            "records": rows,
            "withheld_fields": list(view.withheld),
            "masked_fields": list(view.masked),
            "next_page": _encode_page(offset + size, params_key, self._page_key) if more else None,
        }
        return _Outcome(
            200,
            body,
            outcome="ok",
            rows=len(rows),
            fields=view.returned,
            withheld=view.withheld,
            masked=view.masked,
        )

    def _page_size(self, raw: str | None) -> int:
        if raw is None:
            return self.settings.default_page_size
        limit = self.settings.max_page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= limit:
            raise InvalidInputError(
                [Problem("page_size", "page_size.range", f"an integer from 1 to {limit}")]
            )
        return size


def _header(headers: Mapping[Any, str], name: Any) -> str | None:
    value = headers.get(name)
    return value[:_MAX_HEADER] if value else None


def _page_mac(key: bytes, offset: int, params_key: str) -> str:
    return hmac.new(key, f"{offset}:{params_key}".encode(), hashlib.sha256).hexdigest()[:24]


def _encode_page(offset: int, params_key: str, key: bytes) -> str:
    """A ``next_page`` token: the offset, bound to its query, signed so it cannot be forged (a
    forged offset would make the gateway read and discard a whole table)."""
    mac = _page_mac(key, offset, params_key)
    raw = json.dumps({"o": offset, "q": params_key, "m": mac}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page(token: str | None, params_key: str, key: bytes) -> int:
    """The offset a ``next_page`` token stands for; it is bound to the query that produced it."""
    if token is None:
        return 0
    bad = InvalidInputError(
        [Problem("page", "page.invalid", "not a next_page token of this query")]
    )
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("q") != params_key:
        raise bad
    offset = data.get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise bad
    mac = data.get("m")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _page_mac(key, offset, params_key)):
        raise bad
    return offset


def create_app(
    registry: Registry, config: GatewayConfig, *, audit: AuditLog | str | Path | None = None
) -> Starlette:
    """The gateway's ASGI app (see :class:`Gateway` for the parts behind it)."""
    return Gateway(registry, config, audit=audit).app
