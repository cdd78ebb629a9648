"""The mock platform's intake routes: pull cases, acknowledge one, post its status.

A case id is any non-empty text (``docs/platform-api.yaml``), so it reaches these routes
percent-encoded (:func:`govconnect.exchange.platform.encode_case_id`): ``办件/1`` arrives as one
segment ``%E5%8A%9E%E4%BB%B6%2F1``. The server decodes the path before routing, which loses the
difference between ``/`` and ``%2F``; the handlers therefore read the case id from the *raw* path
segment and decode it themselves, strictly, as a real platform must. An ``X-Case-Id`` header on
these routes must name the same case once decoded.

The pulled list is served as the test filed it: a hostile test may file elements that break the
contract (not an object, no id, an id with a lone surrogate) to see that the node survives them.

A case says how its applicant logged in at the one window (``applicant_auth``: issuer, level,
method, time); :func:`applicant_auth` makes that block for a chosen level, as the mock's own
one-window login would (``MockPlatform.enqueue_case(..., auth_level="L3")`` files a case with it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from starlette.convertors import PathConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response

from .._exceptions import InvalidInputError
from ..exchange import platform as P
from ._mock_app import (
    PlatformState,
    _idempotency_key,
    _json,
    _object_body,
    _problem,
    _Rejected,
)

__all__ = [
    "CASE_CONVERTOR",
    "MOCK_WINDOW_ISSUER",
    "ack_case",
    "applicant_auth",
    "post_status",
    "pull_cases",
]

MOCK_WINDOW_ISSUER = "https://iam.mock-platform.test/realms/one-window"
"""The authentication center the mock one window logs applicants in through."""

_METHODS = {"L1": "password", "L2": "realname", "L3": "face", "L4": "counter"}
"""A plausible login method per level, as the mock's cases name them."""


def applicant_auth(
    level: str,
    *,
    issuer: str = MOCK_WINDOW_ISSUER,
    method: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The ``applicant_auth`` block of a case whose applicant logged in at ``level`` (``L1``–``L4``)
    a minute ago, in the platform's JSON shape. Not validated here: a test may pass a level the
    node must refuse."""
    moment = at if at is not None else datetime.now(UTC) - timedelta(minutes=1)
    return {
        "issuer": issuer,
        "level": level,
        "method": method if method is not None else _METHODS.get(level, "password"),
        "authenticated_at": moment.isoformat(),
    }


CASE_CONVERTOR = "govconnect_case_id"
"""The route convertor of the ``{case_id}`` segment: any text, newlines and ``/`` included."""


class _AnyText(PathConvertor):
    regex = "[\\s\\S]+"  # a case id may hold a newline, which ``.*`` would not match


register_url_convertor(CASE_CONVERTOR, _AnyText())

_CASE_SEGMENT = 4
"""``/v1/intake/cases/{case_id}/…`` split on ``/``: ``['', 'v1', 'intake', 'cases', case_id, …]``."""


def _case_id(request: Request) -> str:
    """The case id of an ack or status route, decoded from the raw path segment (and checked
    against ``X-Case-Id`` when the caller sent one)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    segments = raw.split(b"?", 1)[0].decode("ascii", "replace").split("/")
    try:
        case_id = P.decode_case_id(segments[_CASE_SEGMENT])
    except (InvalidInputError, IndexError):
        raise _Rejected(
            400,
            "bad_request",
            "the case id in the path is not percent-encoded UTF-8",
            [_problem("case_id", "encoding", "percent-encoded UTF-8")],
        ) from None
    header = request.headers.get(P.HEADER_CASE_ID)
    if header is not None and _decoded_header(header) != case_id:
        raise _Rejected(
            400,
            "bad_request",
            f"{P.HEADER_CASE_ID} names another case than the path",
            [_problem(f"header:{P.HEADER_CASE_ID}", "matches_path", "the path's case id")],
        )
    return case_id


def _decoded_header(value: str) -> str:
    try:
        return P.decode_case_id(value)
    except InvalidInputError:
        raise _Rejected(
            400,
            "bad_request",
            f"{P.HEADER_CASE_ID} is not percent-encoded UTF-8",
            [_problem(f"header:{P.HEADER_CASE_ID}", "encoding", "percent-encoded UTF-8")],
        ) from None


def _pending(case: Any, acked: set[str]) -> bool:
    """A filed element is pending until its (string) id is acknowledged; one without a usable id
    can never be acknowledged, so it stays — as on a real platform that filed it by mistake."""
    case_id = case.get("case_id") if isinstance(case, dict) else None
    return not (isinstance(case_id, str) and case_id in acked)


def _case_list(cases: list[Any]) -> Response:
    try:
        body = orjson.dumps({"cases": cases})
    except TypeError:  # a lone surrogate (a hostile test's case id): JSON can still escape it
        body = json.dumps({"cases": cases}, ensure_ascii=True).encode()
    return Response(body, 200, media_type="application/json")


async def pull_cases(request: Request, state: PlatformState, node: str) -> Response:
    limit_text = request.query_params.get("limit", "100")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 1000:
        raise _Rejected(
            400, "bad_request", "limit is 1..1000", [_problem("limit", "range", "1..1000")]
        )
    with state.lock:
        pending = [c for c in state.cases[node] if _pending(c, state.acked)]
    return _case_list(pending[: int(limit_text)])


def _owned_case(state: PlatformState, case_id: str, node: str) -> None:
    if state.case_owner.get(case_id) != node:
        raise _Rejected(
            404,
            "not_found",
            f"no case {case_id!r} for this node",
            [_problem("case_id", "exists", "unknown case for this node")],
        )


async def ack_case(request: Request, state: PlatformState, node: str) -> Response:
    case_id = _case_id(request)
    with state.lock:
        _owned_case(state, case_id, node)
        state.acked.add(case_id)
    return _json(200, {"case_id": case_id, "acknowledged": True})


async def post_status(request: Request, state: PlatformState, node: str) -> Response:
    case_id = _case_id(request)
    body = await _object_body(request, "a status change")
    problems = []
    status = body.get("status")
    if status not in P.CASE_STATUSES:
        problems.append(_problem("status", "enum", "one of " + ", ".join(P.CASE_STATUSES)))
    if "result" in body and not isinstance(body["result"], dict):
        problems.append(_problem("result", "type", "result is a JSON object"))
    reasons = body.get("reasons")
    if status == "returned" and not (isinstance(reasons, list) and reasons):
        problems.append(_problem("reasons", "required", "a returned case needs its reasons"))
    unknown = set(body) - {"status", "result", "reasons"}
    problems += [
        _problem(name, "unknown", "not a member of StatusChange") for name in sorted(unknown)
    ]
    if problems:
        raise _Rejected(422, "invalid", "status change refused", problems)
    key = _idempotency_key(request, required=False)
    with state.lock:
        _owned_case(state, case_id, node)
        if key and key in state.status_keys:
            state.duplicates += 1
            return _json(200, {**state.status_keys[key], "duplicate": True})
        history = state.statuses[case_id]
        if history and history[-1]["status"] in P.TERMINAL_STATUSES:
            raise _Rejected(
                409,
                "conflict",
                f"case {case_id} is already {history[-1]['status']}",
                [_problem("status", "terminal", "no change after completed/returned")],
            )
        history.append(body)
        result = {"case_id": case_id, "status": status, "duplicate": False}
        if key:
            state.status_keys[key] = result
    return _json(200, result)
