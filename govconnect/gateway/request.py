"""What the gateway reads from a service call, and the canonical form of it that it hashes.

A call is a path, a query string and a few headers, all chosen by the caller. Here are the
pieces the gateway reads them with — the query split into the gateway's reserved parameters and
the service's (parsed as Starlette would), a message id made up when none was sent (headers are
decoded and bounded by ``bounds``) — the :class:`_Call` they fill, and :func:`canonical_request`:
the bytes the request hash is taken over, which a consumer recomputes from what it sent. This
runs on every call, so the parsing is written for speed; ``tests/test_gateway_fastpaths.py``
holds it to the general code it replaces.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

import orjson

from .._export import GATEWAY_PARAMETERS
from .identity import VerifiedOfficer
from .policy import Consumer, digest

__all__ = ["canonical_request", "request_hash"]

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


def _split_query(raw: bytes) -> tuple[dict[str, str], dict[str, str | list[str]]]:
    """The gateway's reserved parameters and the service's parameters of a raw query string.

    As Starlette's QueryParams: the last value of a reserved parameter counts; a service
    parameter given twice is a list, in the order given."""
    reserved: dict[str, str] = {}
    params: dict[str, str | list[str]] = {}
    for key, value in _parse_query(raw):
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
    return reserved, params


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
    officer: str | None  # the claimed officer (``X-Handling-Officer``), as sent
    officer_token: str | None = None  # ``X-Officer-Token``: verified, never stored
    verified_officer: VerifiedOfficer | None = None
    officer_rejected: bool = False  # the token was refused (over its bound, or by verification)
    request_hash: str = ""
