"""The platform's successful answers, checked against the shapes ``docs/platform-api.yaml`` gives.

A 2xx counts as success only when its body is the documented JSON. Anything else — not JSON, a
list where an object is due, a member missing or of the wrong type — is an
:class:`UnexpectedResponseError` naming the call and what was wrong, never a bare
``JSONDecodeError``, ``KeyError`` or ``TypeError`` escaping into the delivery worker or the intake
bridge. A 3xx is not success either: the contract has no redirects.

Not retried: the platform broke its contract, and asking again gets the same answer. A record batch
that was in fact applied is safe all the same: its idempotency key stays with the dead letter, so a
replay is refused as a duplicate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from .._exceptions import UnexpectedResponseError

__all__ = ["Answer", "as_list", "as_object", "as_objects", "member", "redirect"]


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer's status and decoded body; ``what`` names the call (``POST /v1/…``)."""

    what: str
    status: int
    body: bytes


def redirect(what: str, response: httpx.Response) -> UnexpectedResponseError:
    """The error for a 3xx: never followed (it would carry the node's token to another URL)."""
    location = response.headers.get("location", "")[:200]
    return UnexpectedResponseError(
        f"{what}: the platform answered {response.status_code} (redirect to {location!r}); the"
        " contract has no redirects: check the platform URL (scheme, host, path prefix)",
        reason="redirect",
        status=response.status_code,
    )


def _shape(answer: Answer, message: str) -> UnexpectedResponseError:
    return UnexpectedResponseError(
        f"{answer.what}: {answer.status} answer {message}", reason="shape", status=answer.status
    )


def as_object(answer: Answer, name: str) -> dict[str, Any]:
    """The body as a JSON object (``name`` says what it should have been, for the message)."""
    try:
        data = _loads(answer.body)
    except ValueError as exc:
        raise UnexpectedResponseError(
            f"{answer.what}: {answer.status} answer is not JSON ({exc}); expected the {name}"
            f" object, got {answer.body[:80]!r}",
            reason="not_json",
            status=answer.status,
        ) from None
    if not isinstance(data, dict):
        raise _shape(answer, f"is a JSON {type(data).__name__}, not the {name} object")
    return data


def _loads(body: bytes) -> Any:
    """orjson first (fast); the standard parser for what orjson refuses but JSON allows.

    JSON may escape a lone surrogate (``"\\ud800"``): orjson refuses the whole document, which for
    a pull of cases would let one hostile case id block every case behind it. The standard parser
    reads it, and the intake bridge refuses that one case (it cannot be named in any request).
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body.decode("utf-8"))


def as_list(answer: Answer, data: dict[str, Any], member: str) -> list[Any]:
    """``data[member]`` as a JSON array whose elements the caller judges one by one."""
    items = data.get(member)
    if not isinstance(items, list):
        raise _shape(answer, f"has no {member!r} array")
    return items


def as_objects(answer: Answer, data: dict[str, Any], member: str, *, key: str) -> list[Any]:
    """``data[member]``: a list of objects, each with a non-empty string ``key``."""
    items = as_list(answer, data, member)
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise _shape(answer, f"{member}[{i}] is not an object")
        if not isinstance(item.get(key), str) or not item[key]:
            raise _shape(answer, f"{member}[{i}].{key} is not a non-empty string")
    return items


def member(answer: Answer, data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """``data[name]`` when it is of ``kind`` (a bool is not an int here), else the shape error."""
    value = data.get(name)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        expected = " or ".join(k.__name__ for k in kinds)
        raise _shape(answer, f"has {name}={value!r:.60}, not a {expected}")
    return value
