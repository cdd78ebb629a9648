"""The mock platform's correction-notice route: ``POST /v1/exchange/corrections``.

A cross-check sends a notice for each value that differs from the element's authoritative
source (``docs/platform-api.yaml``, ``CorrectionNotice``). The mock checks the notice member by
member (a 422 names each broken field and rule; a body that is not JSON, a missing
``Idempotency-Key`` or one over 200 characters is a 400 naming the header) and keeps each notice id once: a repeat under the same key or the
same notice id is acknowledged with ``duplicate: true``, whatever its ``detected_at`` (a rerun
finds the dispute later), and a key reused for another notice id is a 422. What it accepted is
shown by :meth:`MockPlatform.corrections`. Memory is bounded like the rest of the mock: the last
``history`` notices are kept whole; beyond that only the 32-character id and key of each.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..exchange import platform as P
from ._mock_app import (
    MAX_IDEMPOTENCY_KEY,
    PlatformState,
    _idempotency_key,
    _json,
    _object_body,
    _problem,
    _Rejected,
)

__all__ = ["MAX_IDEMPOTENCY_KEY", "check_notice", "post_correction"]

"""The contract's longest ``Idempotency-Key`` (``docs/platform-api.yaml``, ``IdempotencyKey``)."""

_DEPARTMENT_CODE = r"^[0-9A-Za-z][0-9A-Za-z_-]{1,31}$"
_SIDE_MEMBERS = {"resource_code", "department_code", "department_name", "value", "truncated"}
_MEMBERS = {
    "notice_id",
    "key_type",
    "key",
    "element",
    "authoritative",
    "disputed",
    "detected_at",
}


def _text(body: dict[str, Any], name: str, field: str, most: int) -> list[dict[str, str]]:
    value = body.get(name)
    if value is None:
        return [_problem(field, "required", f"{field} is required")]
    if not isinstance(value, str):
        return [_problem(field, "type", f"{field} is a string")]
    if not 1 <= len(value) <= most:
        return [_problem(field, "length", f"{field} is 1 to {most} characters")]
    return []


def _side(body: dict[str, Any], name: str) -> list[dict[str, str]]:
    side = body.get(name)
    if not isinstance(side, dict):
        return [_problem(name, "required" if side is None else "type", f"{name} is an object")]
    problems = []
    for member, pattern in (
        ("resource_code", P.RESOURCE_CODE_PATTERN.pattern),
        ("department_code", _DEPARTMENT_CODE),
    ):
        broken = _text(side, member, f"{name}.{member}", 64)
        if not broken and not re.match(pattern, side[member]):
            broken = [_problem(f"{name}.{member}", "pattern", f"matches {pattern}")]
        problems += broken
    if "department_name" in side:
        problems += _text(side, "department_name", f"{name}.department_name", 200)
    value = side.get("value")
    if value is None:
        problems.append(_problem(f"{name}.value", "required", "the value this source holds"))
    elif not isinstance(value, str):
        problems.append(_problem(f"{name}.value", "type", "the value is a string"))
    elif len(value) > P.MAX_NOTICE_VALUE:
        problems.append(
            _problem(f"{name}.value", "max_length", f"at most {P.MAX_NOTICE_VALUE} characters")
        )
    if not isinstance(side.get("truncated", False), bool):
        problems.append(_problem(f"{name}.truncated", "type", "truncated is a boolean"))
    problems += [
        _problem(f"{name}.{m}", "unknown", "not a member of CorrectionSource")
        for m in sorted(set(side) - _SIDE_MEMBERS)
    ]
    return problems


def check_notice(body: dict[str, Any]) -> list[dict[str, str]]:
    """Every way ``body`` breaks ``CorrectionNotice``, one problem per field and rule."""
    problems = []
    notice_id = body.get("notice_id")
    if not (isinstance(notice_id, str) and P.NOTICE_ID_PATTERN.match(notice_id)):
        problems.append(_problem("notice_id", "pattern", "32 lowercase hex digits"))
    if body.get("key_type") not in P.CORRECTION_KEY_TYPES:
        problems.append(_problem("key_type", "enum", "one of " + ", ".join(P.CORRECTION_KEY_TYPES)))
    problems += _text(body, "key", "key", P.MAX_NOTICE_KEY)
    problems += _text(body, "element", "element", P.MAX_NOTICE_ELEMENT)
    problems += _side(body, "authoritative") + _side(body, "disputed")
    sides = body.get("authoritative"), body.get("disputed")
    if all(isinstance(s, dict) for s in sides) and (
        sides[0].get("resource_code") == sides[1].get("resource_code")  # type: ignore[union-attr]
    ):
        problems.append(
            _problem("disputed.resource_code", "distinct", "not the authoritative resource")
        )
    detected = _text(body, "detected_at", "detected_at", 40)
    if not detected:
        try:
            datetime.fromisoformat(body["detected_at"])
        except ValueError:
            detected = [_problem("detected_at", "date-time", "an ISO 8601 date-time")]
    problems += detected
    problems += [
        _problem(m, "unknown", "not a member of CorrectionNotice")
        for m in sorted(set(body) - _MEMBERS)
    ]
    return problems


async def post_correction(request: Request, state: PlatformState, node: str) -> Response:
    key = _idempotency_key(request)
    body = await _object_body(request, "a correction notice")
    problems = check_notice(body)
    if problems:
        raise _Rejected(422, "invalid", "correction notice refused", problems)
    notice_id = body["notice_id"]
    answer = {"notice_id": notice_id, "addressed_to": body["disputed"]["department_code"]}
    with state.lock:
        box = state.corrections
        seen = box.keys.get(key)
        if seen is not None and seen != notice_id:
            raise _Rejected(
                422,
                "invalid",
                "Idempotency-Key reused for a different notice",
                [_problem(f"header:{P.HEADER_IDEMPOTENCY_KEY}", "reused", "key reuse")],
            )
        box.keys[key] = notice_id
        if seen is not None or notice_id in box.ids:
            state.duplicates += 1
            return _json(200, {**answer, "duplicate": True})
        box.accept(body)
    return _json(200, {**answer, "duplicate": False})
