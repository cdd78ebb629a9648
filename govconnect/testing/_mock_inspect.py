"""The mock platform's inspect endpoint: what arrived, readable over HTTP by any language.

Not part of the platform contract (a real platform has no such thing): the test kit's own window
onto :class:`PlatformState`, so out-of-process tests — a connector written in Java, a shell script
around ``govconnect mock-platform`` — can count what arrived as an in-process test reads
``MockPlatform.latest`` or ``applications``. Authenticated by the platform's own token (the one
``govconnect mock-platform`` prints), whatever node it is bound to; tokens issued to other nodes
are refused. No fault is injected here and the fault RNG is not touched, so inspecting never
changes a seeded run.

``GET /_mock/inspect``                      counters, catalog, per-resource totals, cases and statuses
``GET /_mock/inspect/resources/{code}``     per record id: applications and the latest version
``GET /_mock/inspect/corrections``          the correction notices kept (``?department=CODE``)
``POST /_mock/tokens`` ``{"node": "D/S"}``  a token bound to that node, for a second caller
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..exchange import platform as P

if TYPE_CHECKING:
    from ._mock_state import PlatformState

__all__ = ["INSPECT_PREFIX", "corrections_view", "inspect_routes", "resource_view", "summary"]

INSPECT_PREFIX = "/_mock"
"""Paths under this prefix are the test kit's, never the platform contract's."""


def summary(state: PlatformState) -> dict[str, Any]:
    """Everything countable, small enough to fetch after every step of a test."""
    with state.lock:
        return {
            "requests_served": state.requests,
            "faults_injected": dict(state.faults_injected),
            "duplicates_refused": state.duplicates,
            "idempotency_keys": len(state.keys),
            "catalog": {code: max(v) for code, v in sorted(state.catalog.items()) if v},
            "resources": {
                code: {
                    "records_applied": count,
                    "distinct_ids": len(state.applications.get(code, ())),
                    "live": len(state.latest.get(code, ())),
                    "applied_more_than_once": sum(
                        1 for n in state.applications.get(code, {}).values() if n > 1
                    ),
                }
                for code, count in sorted(state.received.items())
            },
            "cases": {
                case_id: {
                    "node": node,
                    "acknowledged": case_id in state.acked,
                    "statuses": list(state.statuses.get(case_id, ())),
                }
                for case_id, node in state.case_owner.items()
            },
            "corrections": state.corrections.summary(),
        }


def resource_view(state: PlatformState, code: str) -> dict[str, Any] | None:
    """Per record id of one resource: how often it was applied and its latest version (or null)."""
    with state.lock:
        if code not in state.received:
            return None
        latest = state.latest.get(code, {})
        return {
            "resource_code": code,
            "records_applied": state.received[code],
            "records": [
                {"id": rid, "applications": n, "latest": latest.get(rid)}
                for rid, n in state.applications.get(code, {}).items()
            ],
        }


def corrections_view(state: PlatformState, department: str | None = None) -> list[dict[str, Any]]:
    """The correction notices kept (oldest first), those addressed to ``department`` if given."""
    with state.lock:
        return [
            dict(n)
            for n in state.corrections.notices.values()
            if department is None or n["disputed"]["department_code"] == department
        ]


def _answer(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


def _error(status: int, error: str, message: str, field: str, rule: str) -> Response:
    problem = {"field": field, "rule": rule, "message": message}
    return _answer(status, {"error": error, "message": message, "problems": [problem]})


def _operator(request: Request, state: PlatformState) -> bool:
    presented = request.headers.get(P.HEADER_AUTHORIZATION, "").encode()
    return secrets.compare_digest(presented, f"Bearer {state.token}".encode())


def inspect_routes(state: PlatformState) -> list[Route]:
    """The inspect routes over ``state``, to add to the platform's application."""

    def guarded(handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            if not _operator(request, state):
                return _error(
                    401,
                    "unauthorized",
                    "the inspect endpoint takes the platform's own token",
                    f"header:{P.HEADER_AUTHORIZATION}",
                    "token",
                )
            return await handler(request)

        return endpoint

    async def get_summary(request: Request) -> Response:
        return _answer(200, summary(state))

    async def get_resource(request: Request) -> Response:
        code = request.path_params["code"]
        view = resource_view(state, code)
        if view is None:
            return _error(404, "not_found", f"no records for {code!r}", "code", "exists")
        return _answer(200, view)

    async def get_corrections(request: Request) -> Response:
        department = request.query_params.get("department")
        return _answer(200, {"corrections": corrections_view(state, department)})

    async def post_token(request: Request) -> Response:
        try:
            node = orjson.loads(await request.body()).get("node", "")
        except (orjson.JSONDecodeError, AttributeError):
            node = None
        if not isinstance(node, str) or not P.NODE_PATTERN.match(node):
            return _error(422, "invalid", 'body is {"node": "D/S"}', "node", "pattern")
        return _answer(200, {"node": node, "token": state.issue_token(node)})

    return [
        Route(f"{INSPECT_PREFIX}/inspect", guarded(get_summary), methods=["GET"]),
        Route(
            f"{INSPECT_PREFIX}/inspect/resources/{{code:path}}",
            guarded(get_resource),
            methods=["GET"],
        ),
        Route(f"{INSPECT_PREFIX}/inspect/corrections", guarded(get_corrections), methods=["GET"]),
        Route(f"{INSPECT_PREFIX}/tokens", guarded(post_token), methods=["POST"]),
    ]
