"""The gateway's ``next_page`` tokens: an offset, bound to its query and signed.

A page token comes back from the caller, so it is hostile input: a forged offset would make the
gateway read and discard a whole table. Tokens are HMAC-signed with a key the gateway draws when
it starts (a token does not outlive a restart) and bound to the keyed digest of the call's
service parameters, so a token of one query is refused on a query with other parameters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from .._exceptions import InvalidInputError, Problem
from .bounds import MAX_PAGE_TOKEN
from .policy import GatewaySettings

__all__: list[str] = []


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
    # A token this gateway made is under 120 characters: anything much longer is refused before
    # it is decoded (a deeply nested JSON array once made the decoder recurse into a 500).
    if len(token) > MAX_PAGE_TOKEN:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
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
