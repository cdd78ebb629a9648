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
import itertools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Scope

from .._connector import Connector
from .._exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    Problem,
)
from .._export import GATEWAY_PARAMETERS, to_openapi
from .._registry import Registry
from .._validation import validate_model
from .audit import AuditLog
from .bounds import (
    MAX_PURPOSE,
    MAX_QUERY_BYTES,
    Guard,
    decode_header,
    officer_token,
    text_headers,
)
from .discovery import DISCOVERY_SERVICE, _allowed, _describe
from .identity import OfficerTokenError
from .metrics import Metrics, Outbox, OutboxGauges
from .officers import OfficerRules
from .openapi import discovery_paths, document_bounds
from .paging import _decode_page, _encode_page, _page_size
from .policy import Consumer, GatewayConfig, Policy
from .request import _Call, _new_message_id, _split_query, request_hash
from .responses import _error, _json, _Outcome

__all__ = ["Gateway", "create_app"]

log = logging.getLogger("govconnect.gateway")

_WORKERS = 40  # threads for legacy calls, as many as Starlette's default thread limiter allows


class _NotFound(Exception):
    pass


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
        outbox: Outbox | str | None = None,
    ) -> None:
        """``audit``: the log, or its location (a SQLite file or a PostgreSQL URL); ``outbox``:
        the department's outbox (or its location), whose depth ``/metrics`` then exports."""
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
        self.audit.seal()  # key the chain now: a new log, or one written before keying
        self.officers = OfficerRules(config, self.services, self.audit.officer_digest)
        settings_overlay = config.connectors
        self.connectors: dict[str, Connector] = {}
        for name in sorted({s.connector.name for s in self.services}):
            self.connectors[name] = registry.connector(name, settings_overlay.get(name))
        self.metrics = Metrics(OutboxGauges(outbox) if outbox is not None else None)
        cert_header = self.settings.client_cert_header
        self._cert_header = cert_header.lower().encode("latin-1") if cert_header else None
        self._wanted_headers = frozenset(
            {b"authorization", b"x-message-id", b"x-case-id", b"x-handling-officer"}
            | {b"x-officer-token"}
            | ({self._cert_header} if self._cert_header else set())
        )
        # Service calls hop to these threads with ``loop.run_in_executor``: the same one hop per
        # call as ``run_in_threadpool``, at about half its CPU cost (no AnyIO limiter and
        # cancel scopes around it). Threads start when first needed.
        self._executor = ThreadPoolExecutor(_WORKERS, thread_name_prefix="govconnect-gateway")
        # signs next_page tokens: derived from the audit key, so every process sharing the log
        # (``serve --workers N``, several machines) follows the others' tokens
        self._page_key = self.audit.derived_key("gateway page tokens")
        self.openapi = to_openapi(
            self.services, title=self.settings.title, max_page_size=self.settings.max_page_size
        )
        self.openapi["paths"].update(discovery_paths())
        document_bounds(self.openapi)
        self._openapi_bytes = orjson.dumps(self.openapi)
        self.app: ASGIApp = Guard(self._build_app(), self.refuse)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self.officers.close()
        self.metrics.close()
        for connector in self.connectors.values():
            connector.close()
        if self._owns_audit:
            self.audit.close()

    # --- app ----------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        """The routes; a method not allowed, a path not served and an unexpected error are each
        audited and answered with the JSON error body (Starlette's defaults are plain text)."""
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
        handlers = {404: self._http_error, 405: self._http_error, Exception: self._internal_error}
        app = Starlette(routes=routes, exception_handlers=handlers)  # type: ignore[arg-type]
        app.router.redirect_slashes = False  # a redirect would be an unaudited, non-JSON answer
        return app

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        if status == 405:
            allow = {"Allow": "GET, HEAD"}
            message = f"method {request.method[:16]!r} is not allowed here; use GET"
            return await self.refuse(
                request.scope, _error(405, "method_not_allowed", message), allow
            )
        return await self.refuse(request.scope, _error(404, "not_found", "no such path"))

    async def _internal_error(self, request: Request, exc: Exception) -> Response:
        log.error("unexpected %s serving a request", type(exc).__name__)
        return await self.refuse(request.scope, _error(500, "internal", "the gateway failed"))

    async def refuse(
        self, scope: Scope, out: _Outcome, headers: dict[str, str] | None = None
    ) -> Response:
        """Audit and answer a request refused outside a service call's own path: a transport
        bound broken, a path not served, a method not allowed, an unexpected error. Nothing is
        answered unaudited; the record holds what the call's would, within the same bounds."""
        raw, text, _ = self._headers(scope)
        message_id = text.get(b"x-message-id") or _new_message_id()
        consumer, _ = self._consumer(raw)
        path = str(scope.get("path", ""))
        service = path.removeprefix("/services/") if path.startswith("/services/") else path
        query = scope.get("query_string") or b""
        reserved, params = _split_query(query) if len(query) <= MAX_QUERY_BYTES else ({}, {})
        purpose = reserved.get("purpose")
        rh = request_hash(
            service=service,
            consumer=consumer.id if consumer else None,
            params=params,
            purpose=purpose,
            page=reserved.get("page"),
            page_size=reserved.get("page_size"),
            message_id=message_id,
        )
        out.body["request_hash"] = rh
        record = {
            "consumer": consumer.id if consumer else None,
            "service": service,
            "purpose": purpose or None,
            "params_digest": self.audit.params_digest(params),
            "request_hash": rh,
            "message_id": message_id,
            "case_id": text.get(b"x-case-id"),
            "officer": text.get(b"x-handling-officer"),
            "outcome": out.outcome,
            "status": out.status,
            "reason": out.reason,
            **self.officers.audit_fields(None, False, text.get(b"x-handling-officer")),
        }
        try:
            await run_in_threadpool(lambda: self.audit.write(**record))
        except Exception as exc:  # nothing is answered that is not audited
            log.error("audit append failed (%s); refusing %s", type(exc).__name__, message_id)
            out = _error(503, "audit_unavailable", "the audit log is unavailable")
            out.body["request_hash"] = rh
        self.metrics.observe("(unrouted)", out, 0.0)
        reply = {"X-Request-Hash": rh, "X-Message-Id": message_id, **(headers or {})}
        return Response(orjson.dumps(out.body), out.status, reply, media_type="application/json")

    async def _healthz(self, request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def _readyz(self, request: Request) -> Response:
        try:
            seq, _ = await run_in_threadpool(self.audit.head)
        except Exception as exc:  # any failure means "not ready", reported without internals
            log.warning("readiness: audit log unavailable (%s)", type(exc).__name__)
            return _json(503, {"status": "unavailable", "audit_log": "unavailable"})
        return _json(
            200,
            {"status": "ready", "services": len(self.services), "audit_records": seq},
        )

    async def _metrics(self, request: Request) -> Response:
        return Response(
            await self.metrics.render_all(),
            200,
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    async def _openapi(self, request: Request) -> Response:
        return Response(self._openapi_bytes, 200, media_type="application/json")

    async def _list_all(self, request: Request) -> Response:
        """X-Road's listMethods: every service this gateway serves (catalog metadata only)."""
        return _json(200, {"services": [_describe(s) for s in self.services]})

    async def _list_allowed(self, request: Request) -> Response:
        """X-Road's allowedMethods: what *this* consumer may call, and what it would see.

        Audited like a service call (a refused one too): a credential that is tried here leaves
        the same trace as one tried on a service."""
        raw, text, _ = self._headers(request.scope)
        message_id = text.get(b"x-message-id") or _new_message_id()
        consumer, failure = self._consumer(raw)
        if consumer is None:
            assert failure is not None
            out = _error(401, "unauthenticated", failure.reason, failure.problems)
            if not await self._audit_discovery(None, out.outcome, 401, message_id, failure.reason):
                out = _error(503, "audit_unavailable", "the audit log is unavailable")
                return _json(503, out.body)
            return _json(401, out.body, {"WWW-Authenticate": "Bearer"})
        allowed = _allowed(self.policy, consumer, self.services)
        if not await self._audit_discovery(consumer.id, "ok", 200, message_id, None):
            out = _error(503, "audit_unavailable", "the audit log is unavailable; nothing served")
            return _json(503, out.body)
        return _json(200, {"consumer": consumer.id, "services": allowed})

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

    def _headers(self, scope: Scope) -> tuple[dict[bytes, bytes], dict[bytes, str], list[Problem]]:
        """The headers the gateway reads, in one pass over the raw list (the first of each name
        counts, as ``request.headers.get`` has it), and the audited text headers among them
        decoded and bounded (``bounds.text_headers``), with the problems of those that are not."""
        wanted = self._wanted_headers
        raw: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in wanted and name not in raw:
                raw[name] = value
        text, problems = text_headers(raw)
        return raw, text, problems

    def _consumer(
        self, raw: dict[bytes, bytes]
    ) -> tuple[Consumer | None, AuthenticationError | None]:
        """Who the credentials name, or why they name nobody."""
        auth = raw.get(b"authorization")
        cert = raw.get(self._cert_header) if self._cert_header else None
        subject: str | None = None
        if cert:
            try:  # a subject may hold Chinese (O=朝阳区民政局): UTF-8 as any header text
                subject = decode_header(cert)
            except ValueError:
                subject = cert.decode("latin-1")  # names nobody configured
        try:
            return self.policy.authenticate(auth.decode("latin-1") if auth else None, subject), None
        except AuthenticationError as exc:
            return None, exc

    # --- service calls ------------------------------------------------------------------------

    async def _call(self, request: Request) -> Response:
        started = time.perf_counter()
        service_id = request.path_params["service_id"]
        reserved, params = _split_query(request.scope["query_string"])
        raw_purpose = reserved.get("purpose")
        purpose = raw_purpose or None  # an empty purpose states none
        page = reserved.get("page")
        page_size = reserved.get("page_size")
        raw, text, problems = self._headers(request.scope)
        message_id = text.get(b"x-message-id") or _new_message_id()
        consumer, failure = self._consumer(raw)
        token, too_long = officer_token(raw)
        if too_long is not None:
            problems.append(too_long)
        if purpose is not None and len(purpose) > MAX_PURPOSE:
            problems.append(
                Problem("purpose", "purpose.too_long", f"at most {MAX_PURPOSE} characters")
            )
            purpose = None  # refused, and not stored
        refusal: _Outcome | None = None
        if problems:  # bounds first: nothing over them is stored, whoever sent it
            refusal = _error(422, "invalid_params", "invalid headers or parameters", problems)
        elif failure is not None:
            refusal = _error(401, "unauthenticated", failure.reason, failure.problems)
        call = _Call(
            service_id=service_id,
            consumer=consumer,
            params=params,
            params_digest=self.audit.params_digest(params),
            purpose=purpose,
            page=page,
            page_size=page_size,
            message_id=message_id,
            case_id=text.get(b"x-case-id"),
            officer=text.get(b"x-handling-officer"),
            officer_token=token,
            officer_rejected=too_long is not None,
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
        if out is None:  # the officer's token, when sent, is verified whatever the service
            try:
                call.verified_officer = self.officers.verify(call.officer_token)
            except OfficerTokenError as exc:
                call.officer_rejected = True
                out = _error(exc.status, exc.error, exc.message, exc.problems)
        if out is None:
            assert call.consumer is not None
            try:
                out = self._serve(call.consumer, call)
            except Exception as exc:  # a bug or hostile input nobody foresaw: audited, no trace
                log.error("unexpected %s serving %s", type(exc).__name__, call.message_id)
                out = _error(500, "internal", "the gateway failed")
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
                **self.officers.audit_fields(
                    call.verified_officer, call.officer_rejected, call.officer
                ),
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
            size = _page_size(call.page_size, self.settings)
            params_key = call.params_digest[:16]
            offset = _decode_page(call.page, params_key, self._page_key)
            view = self.policy.view(consumer, svc)
            self.officers.authorize(consumer, svc, view, call.verified_officer)
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


def create_app(
    registry: Registry,
    config: GatewayConfig,
    *,
    audit: AuditLog | str | Path | None = None,
    outbox: Outbox | str | None = None,
) -> ASGIApp:
    """The gateway's ASGI app (see :class:`Gateway` for the parts behind it)."""
    return Gateway(registry, config, audit=audit, outbox=outbox).app
