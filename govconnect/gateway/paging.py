"""The gateway's ``next_page`` tokens: an offset, bound to its query, dated and signed.

A page token comes back from the caller, so it is hostile input: a forged offset would make the
gateway read and discard a whole table. Tokens are HMAC-signed with a key derived from the audit
key (every process sharing the audit log signs alike, so a page started on one worker or machine
is followed on another, across restarts), bound to the keyed digest of the call's service
parameters (a token of one query is refused on a query with other parameters), and carry the
time they were issued: a token older than :data:`PAGE_TOKEN_MAX_AGE` is refused
(``page.expired``), so a token copied into a log or a ticket does not stay good for as long as
the audit key does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import TypeGuard

from .._exceptions import InvalidInputError, Problem
from .bounds import MAX_PAGE_TOKEN
from .policy import GatewaySettings

__all__: list[str] = []

PAGE_TOKEN_MAX_AGE = 3600
"""Seconds a ``next_page`` token is followed after it was issued (docs/gateway.md, "Paging")."""

_CLOCK_SKEW = 300
"""How far in the future an issue time may lie (another machine's clock running ahead)."""

_clock = time.time  # the wall clock tokens are dated by (a test moves it)


def _natural(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _page_mac(key: bytes, offset: int, params_key: str, issued: int) -> str:
    message = f"{offset}:{params_key}:{issued}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:24]


def _encode_page(offset: int, params_key: str, key: bytes) -> str:
    """A ``next_page`` token: the offset, bound to its query, dated, signed so it cannot be
    forged (a forged offset would make the gateway read and discard a whole table)."""
    issued = int(_clock())
    mac = _page_mac(key, offset, params_key, issued)
    data = {"o": offset, "q": params_key, "t": issued, "m": mac}
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_page(token: str | None, params_key: str, key: bytes) -> int:
    """The offset a ``next_page`` token stands for; it is bound to the query that produced it
    and followed for :data:`PAGE_TOKEN_MAX_AGE` seconds."""
    if token is None:
        return 0
    bad = InvalidInputError(
        [Problem("page", "page.invalid", "not a next_page token of this query")]
    )
    # A token this gateway made is under 130 characters: anything much longer is refused before
    # it is decoded (a deeply nested JSON array once made the decoder recurse into a 500).
    if len(token) > MAX_PAGE_TOKEN:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise bad from None
    if not isinstance(data, dict) or data.get("q") != params_key:
        raise bad
    offset, issued = data.get("o"), data.get("t")
    if not _natural(offset) or not _natural(issued):
        raise bad
    mac = data.get("m")
    expected = _page_mac(key, offset, params_key, issued)
    if not isinstance(mac, str) or not hmac.compare_digest(mac, expected):
        raise bad
    age = _clock() - issued
    if age > PAGE_TOKEN_MAX_AGE or age < -_CLOCK_SKEW:
        raise InvalidInputError(
            [
                Problem(
                    "page",
                    "page.expired",
                    f"a next_page token is followed for {PAGE_TOKEN_MAX_AGE // 60} minutes after"
                    " it was issued: ask for the first page again",
                )
            ]
        )
    return offset


def _page_size(raw: str | None, settings: GatewaySettings) -> int:
    """The ``page_size`` a call asked for, within the gateway file's limits (422 beyond them)."""
    if raw is None:
        return settings.default_page_size
    limit = settings.max_page_size
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= limit:
        raise InvalidInputError(
            [Problem("page_size", "page_size.range", f"an integer from 1 to {limit}")]
        )
    return size
