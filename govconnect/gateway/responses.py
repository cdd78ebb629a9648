"""What the gateway answers: the outcome of a call and the JSON bodies it is sent as.

Every answer, served or refused, is first an :class:`_Outcome` — status, body, and what the audit
record says about it (outcome, reason, rows, fields returned, withheld and masked) — so the
record and the answer cannot disagree. Errors share one body shape, ``{"error", "message",
"problems"}``, made by :func:`_error`; the error codes are documented in docs/gateway.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from .._exceptions import Problem

__all__: list[str] = []


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


def _error(status: int, error: str, message: str, problems: Sequence[Problem] = ()) -> _Outcome:
    body: dict[str, Any] = {"error": error, "message": message}
    if problems:
        body["problems"] = [p.as_dict() for p in problems]
    return _Outcome(status, body, outcome=error, reason=message)


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")
