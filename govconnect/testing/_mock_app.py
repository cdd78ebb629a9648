"""The mock exchange platform's application: fault injection and the contract's routes.

Implements ``docs/platform-api.yaml`` over the bounded in-memory state of :mod:`._mock_state`
(the intake routes in :mod:`._mock_intake`, correction notices in :mod:`._mock_corrections`); :mod:`._mock_inspect` adds the test kit's own inspect
endpoint (not part of the contract).
:mod:`._mock_platform` serves it on loopback.

Faults are applied *before* any state change (a 5xx, a 429 or a reset never applied anything), except
the ``lost_response_rate`` fault, which applies a mutating request and then resets the connection:
the caller cannot know it succeeded, and only idempotency keys keep the retry from applying it twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..exchange import platform as P
from ._mock_inspect import inspect_routes
from ._mock_state import FAULT_PROFILES, BatchKey, Faults, PlatformState

__all__ = ["FAULT_PROFILES", "Faults", "PlatformState", "create_app"]

_TRANSPORT_KEY = "govconnect.transport"


class _Rejected(Exception):
    """Raised inside a handler to answer with an error body."""

    def __init__(
        self, status: int, error: str, message: str, problems: list[dict[str, str]]
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.problems = status, error, message, problems


def _problem(field: str, rule: str, message: str) -> dict[str, str]:
    return {"field": field, "rule": rule, "message": message}


MAX_IDEMPOTENCY_KEY = 200
"""The contract's limit on ``Idempotency-Key`` (docs/platform-api.yaml): the mock keeps every key
it accepts, so a longer one is refused rather than stored."""


def _idempotency_key(request: Request, *, required: bool = True) -> str | None:
    """The request's ``Idempotency-Key``, checked as the contract says: present where required
    (400 naming the header), at most :data:`MAX_IDEMPOTENCY_KEY` characters (400)."""
    key = request.headers.get(P.HEADER_IDEMPOTENCY_KEY)
    header = f"header:{P.HEADER_IDEMPOTENCY_KEY}"
    if not key:
        if not required:
            return None
        raise _Rejected(
            400,
            "bad_request",
            "Idempotency-Key is required",
            [_problem(header, "required", "missing")],
        )
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise _Rejected(
            400,
            "bad_request",
            f"Idempotency-Key is at most {MAX_IDEMPOTENCY_KEY} characters",
            [
                _problem(
                    header,
                    "max_length",
                    f"at most {MAX_IDEMPOTENCY_KEY} characters, not {len(key)}",
                )
            ],
        )
    return key


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def _error(
    status: int,
    error: str,
    message: str,
    problems: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return _json(status, {"error": error, "message": message, "problems": problems or []}, headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}".rstrip("0")


async def _reset(request: Request) -> Response:
    """Abort the TCP connection with an RST; the client sees a reset, never a response."""
    transport = request.scope.get("state", {}).get(_TRANSPORT_KEY)
    if transport is None:  # not served by our protocol class: the nearest thing is a bare 500
        return _error(500, "internal", "connection reset (simulated)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await asyncio.sleep(0)
    return Response(b"", 500)


Handler = Callable[[Request, "PlatformState", str], Awaitable[Response]]


def _endpoint(state: PlatformState, handler: Handler, *, mutating: bool) -> Callable[..., Any]:
    """Wrap a handler with faults, authentication and the contract's required headers."""

    async def endpoint(request: Request) -> Response:
        fault = state.draw()
        latency = state.faults.latency
        if latency:
            await asyncio.sleep(latency)
        if fault == "outage":
            left = max(state.outage_until - time.monotonic(), 0.0)
            after = _seconds(math.ceil(left * 1000) / 1000)
            return _error(
                503,
                "unavailable",
                "platform outage (simulated)",
                None,
                {P.HEADER_RETRY_AFTER: after},
            )
        if fault == "error":
            return _error(500, "internal", "internal error (simulated)")
        if fault == "throttle":
            after = _seconds(state.faults.retry_after)
            return _error(
                429,
                "throttled",
                "too many requests (simulated)",
                None,
                {P.HEADER_RETRY_AFTER: after},
            )
        if fault == "reset" or (fault == "lost_response" and not mutating):
            return await _reset(request)
        try:
            node = _authenticate(request, state)
            response = await handler(request, state, node)
        except _Rejected as exc:
            return _error(exc.status, exc.error, exc.message, exc.problems)
        except ClientDisconnect:  # the caller died mid-request (kill -9): nothing was applied
            return Response(b"", 400)
        if fault == "lost_response" and response.status_code < 300:
            return await _reset(request)
        return response

    return endpoint


def _authenticate(request: Request, state: PlatformState) -> str:
    token = state.known_token(request.headers.get(P.HEADER_AUTHORIZATION, ""))
    if token is None:
        raise _Rejected(
            401,
            "unauthorized",
            "missing or wrong bearer token",
            [_problem(f"header:{P.HEADER_AUTHORIZATION}", "token", "not this node's token")],
        )
    problems = []
    node = request.headers.get(P.HEADER_NODE, "")
    if not P.NODE_PATTERN.match(node):
        problems.append(
            _problem(
                f"header:{P.HEADER_NODE}", "pattern", "must be {department_code}/{system_code}"
            )
        )
    for header in (P.HEADER_MESSAGE_ID, P.HEADER_USER_ID):
        if not request.headers.get(header):
            problems.append(_problem(f"header:{header}", "required", f"{header} is required"))
    if problems:
        raise _Rejected(400, "bad_request", "missing or malformed headers", problems)
    if state.bind(token, node) != node:  # a token authenticates one node, never another's cases
        raise _Rejected(
            401,
            "unauthorized",
            f"this token is not issued to node {node!r}",
            [_problem(f"header:{P.HEADER_NODE}", "token_node", "not the token's node")],
        )
    return node


async def _body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise _Rejected(
            400, "bad_request", "body is not JSON", [_problem("body", "json", str(exc))]
        ) from exc


async def _object_body(request: Request, what: str) -> dict[str, Any]:
    """The JSON body, which must be an object (``what`` names it: "a batch is a JSON object")."""
    body = await _body(request)
    if not isinstance(body, dict):
        raise _Rejected(
            422, "invalid", f"{what} is a JSON object", [_problem("body", "type", "object")]
        )
    return body


async def _list_resources(request: Request, state: PlatformState, node: str) -> Response:
    with state.lock:
        latest = [versions[max(versions)] for _, versions in sorted(state.catalog.items())]
    return _json(200, {"resources": latest})


async def _get_resource(request: Request, state: PlatformState, node: str) -> Response:
    code = request.path_params["code"]
    version = request.query_params.get("version")
    if version is not None and not (version.isdigit() and int(version) >= 1):
        raise _Rejected(
            400,
            "bad_request",
            f"version {version!r} is not an integer >= 1",
            [_problem("version", "integer", "version must be an integer >= 1")],
        )
    with state.lock:
        versions = state.catalog.get(code, {})
        if version is not None:
            found = versions.get(int(version))
        else:
            found = versions[max(versions)] if versions else None
    if found is None:
        raise _Rejected(
            404,
            "not_found",
            f"no resource {code!r}",
            [_problem("code", "exists", "not in the catalog")],
        )
    return _json(200, found)


async def _put_resource(request: Request, state: PlatformState, node: str) -> Response:
    code = request.path_params["code"]
    body = await _object_body(request, "a resource")
    problems = []
    if body.get("code") != code:
        problems.append(_problem("code", "matches_path", "code must equal the code in the path"))
    if not isinstance(body.get("code"), str) or not P.RESOURCE_CODE_PATTERN.match(body["code"]):
        problems.append(_problem("code", "pattern", "classification code + '/' + sequence code"))
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(_problem("version", "integer", "version must be an integer >= 1"))
    if problems:
        raise _Rejected(422, "invalid", "resource breaks the catalog contract", problems)
    with state.lock:
        versions = state.catalog.setdefault(code, {})
        existing = versions.get(version)
        if existing is None:
            versions[version] = body
            return _json(201, {"status": "created", "resource": body})
    if existing == body:
        return _json(200, {"status": "unchanged", "resource": existing})
    raise _Rejected(
        409,
        "conflict",
        f"{code} version {version} exists with other content",
        [_problem("version", "immutable", "publish a new version instead")],
    )


def _check_records(records: Any) -> list[dict[str, str]]:
    if not isinstance(records, list) or not records:
        return [_problem("records", "non_empty_array", "records must be a non-empty array")]
    if len(records) > P.MAX_BATCH_RECORDS:
        return [_problem("records", "max_items", f"at most {P.MAX_BATCH_RECORDS} records")]
    problems = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            problems.append(_problem(f"records[{i}]", "type", "a record is a JSON object"))
            continue
        op = record.get("op", "upsert")
        if op not in P.RECORD_OPS:
            problems.append(_problem(f"records[{i}].op", "enum", "op is upsert or delete"))
        elif op == "delete" and "id" not in record:
            problems.append(_problem(f"records[{i}].id", "required", "a delete needs the id"))
        rid = record.get("id")
        if rid is not None and (not isinstance(rid, str | int) or isinstance(rid, bool)):
            problems.append(_problem(f"records[{i}].id", "type", "an id is a string or integer"))
    return problems


async def _publish(request: Request, state: PlatformState, node: str) -> Response:
    key = _idempotency_key(request)
    raw = await request.body()
    body = await _object_body(request, "a batch")
    code = body.get("resource_code")
    problems = _check_records(body.get("records"))
    with state.lock:
        if not isinstance(code, str) or code not in state.catalog:
            problems.insert(0, _problem("resource_code", "registered", "not in the catalog"))
    if problems:
        raise _Rejected(422, "invalid", "batch refused", problems)
    digest = hashlib.sha256(raw).digest()
    records: list[dict[str, Any]] = body["records"]
    with state.lock:
        seen = state.keys.get(key)
        if seen is not None:
            if seen.digest != digest:
                raise _Rejected(
                    422,
                    "invalid",
                    "Idempotency-Key reused for a different batch",
                    [_problem(f"header:{P.HEADER_IDEMPOTENCY_KEY}", "reused", "key reuse")],
                )
            state.duplicates += 1
            return _json(200, seen.answer(duplicate=True))
        applied = BatchKey(digest, code, state.apply(code, records), f"b{len(state.keys) + 1}")
        state.keys[key] = applied
    return _json(200, applied.answer(duplicate=False))


def create_app(state: PlatformState) -> Starlette:
    """The starlette application serving ``state``; every route is in ``docs/platform-api.yaml``."""

    from ._mock_corrections import post_correction  # uses this module
    from ._mock_intake import CASE_CONVERTOR, ack_case, post_status, pull_cases  # uses this module

    def route(path: str, handler: Handler, method: str) -> Route:
        # a percent-encoded "/" in a code or case id is decoded by the server before routing:
        # let the route match it; the handlers read the segment from the raw path
        ep = _endpoint(state, handler, mutating=method != "GET")
        path = path.replace("{code}", "{code:path}").replace(
            "{case_id}", f"{{case_id:{CASE_CONVERTOR}}}"
        )
        return Route(path, ep, methods=[method])

    return Starlette(
        routes=[
            *inspect_routes(state),
            route(P.PATH_RESOURCES, _list_resources, "GET"),
            route(P.PATH_RESOURCE, _get_resource, "GET"),
            route(P.PATH_RESOURCE, _put_resource, "PUT"),
            route(P.PATH_RECORDS, _publish, "POST"),
            route(P.PATH_CORRECTIONS, post_correction, "POST"),
            route(P.PATH_CASES, pull_cases, "GET"),
            route(P.PATH_CASE_ACK, ack_case, "POST"),
            route(P.PATH_CASE_STATUS, post_status, "POST"),
        ]
    )


class _ResettableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, handing each request its connection's transport (for resets)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.app_state = {**self.app_state, _TRANSPORT_KEY: transport}
        super().connection_made(transport)
