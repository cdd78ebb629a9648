"""What a caller may send the gateway, and how its text is made safe to store and to print.

Everything here is decided before authentication, because an unauthenticated caller's request is
audited too: without bounds, anyone could grow the audit log by megabytes per second. The limits
(documented in docs/gateway.md, "Bounds") are:

- the raw path and the raw query string (414 beyond them);
- each header, all headers together and their number (431);
- the text that is stored in an audit record — ``purpose``, ``X-Message-Id``, ``X-Case-Id``,
  ``X-Handling-Officer`` — the ``page`` token and the officer token ``X-Officer-Token`` (422
  naming the field and the rule).

Header text is UTF-8: either an RFC 8187 ext-value (``UTF-8''%E5%BC%A0%E4%B8%89``, for HTTP
libraries that send ASCII only) or raw UTF-8 bytes, decoded strictly (invalid bytes are a 422,
never mojibake). Control characters (C0, C1, DEL) and the Unicode characters that reorder or
break a terminal line (bidi overrides and isolates, line and paragraph separators) are replaced
by U+FFFD before any text reaches the audit log, so a record printed on a terminal cannot move
the cursor, hide text or forge a line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import unquote

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .._exceptions import Problem
from .responses import _error, _Outcome

__all__ = [
    "HEADER_TEXT_LIMITS",
    "MAX_HEADERS_BYTES",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_COUNT",
    "MAX_ISSUER",
    "MAX_OFFICER_TOKEN",
    "MAX_PAGE_TOKEN",
    "MAX_PATH_BYTES",
    "MAX_PURPOSE",
    "MAX_QUERY_BYTES",
    "MAX_REASON",
    "MAX_RECORD_BYTES",
    "Guard",
    "clean_text",
    "decode_header",
]

MAX_PATH_BYTES = 512
MAX_QUERY_BYTES = 4096
MAX_HEADER_BYTES = 4096
MAX_HEADERS_BYTES = 16384
MAX_HEADER_COUNT = 64
MAX_PURPOSE = 200
MAX_PAGE_TOKEN = 256
MAX_REASON = 512
MAX_ISSUER = 256  # an identity issuer's URL (from the gateway file), as an audit record keeps it
#: An officer token (``X-Officer-Token``, a JWT): an ID or access token is 1–2 KiB; beyond this
#: it is refused (422) before it is decoded, let alone verified.
MAX_OFFICER_TOKEN = 3072
#: Header name (lower-case, as ASGI gives it) -> the most characters stored from it.
HEADER_TEXT_LIMITS: dict[bytes, int] = {
    b"x-message-id": 128,
    b"x-case-id": 128,
    b"x-handling-officer": 64,
}
#: Headers whose value is an identifier echoed back in a reply header: visible ASCII only.
_ASCII_HEADERS = frozenset({b"x-message-id"})
#: The most UTF-8 bytes an audit record's columns take, its field lists apart (those come from
#: the served service's own declaration, not from the caller): every text column a caller can
#: influence is cut to its limit above, four bytes a character at worst, plus the fixed columns.
MAX_RECORD_BYTES = 10240

log = logging.getLogger("govconnect.gateway")

Refuse = Callable[[Scope, _Outcome], Awaitable[Response]]

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_EXT_VALUE = re.compile(r"^utf-8'[A-Za-z0-9-]*'", re.IGNORECASE)


def clean_text(value: str | None, limit: int | None = None) -> str | None:
    """``value`` with control and reordering characters replaced by U+FFFD, cut to ``limit``
    characters: what may be stored in the audit log or printed on a terminal."""
    if value is None:
        return None
    if limit is not None and len(value) > limit:
        value = value[:limit]
    if value.isprintable():  # the common case, fast: no C0/C1, no format or separator character
        return value
    return _UNSAFE.sub("\ufffd", value)


def decode_header(raw: bytes) -> str:
    """A header value as text: an RFC 8187 ext-value (``UTF-8''%E5%BC%A0``) percent-decoded, else
    the raw bytes as UTF-8. Raises :class:`UnicodeDecodeError` (a ``ValueError``) for bytes that
    are not UTF-8 either way: a caller's mistake, refused rather than guessed at."""
    text = raw.decode("utf-8")
    match = _EXT_VALUE.match(text)
    if match is None:
        return text
    return unquote(text[match.end() :], encoding="utf-8", errors="strict")


def header_problem(name: bytes, rule: str, message: str) -> Problem:
    """A problem naming a header as the caller spells it (``X-Handling-Officer``)."""
    return Problem(
        "-".join(p.capitalize() for p in name.decode("latin-1").split("-")), rule, message
    )


def scope_problems(scope: Scope) -> tuple[int, str, list[Problem]] | None:
    """The status, error code and problems of a request that exceeds a transport bound (path,
    query string, headers), or ``None``; checked before routing, so every path is covered."""
    path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "replace")
    if len(path) > MAX_PATH_BYTES:
        return (
            414,
            "uri_too_long",
            [Problem("path", "path.too_long", f"at most {MAX_PATH_BYTES} bytes")],
        )
    query = scope.get("query_string") or b""
    if len(query) > MAX_QUERY_BYTES:
        return (
            414,
            "uri_too_long",
            [Problem("query", "query.too_long", f"at most {MAX_QUERY_BYTES} bytes")],
        )
    headers: Sequence[tuple[bytes, bytes]] = scope.get("headers") or ()
    if len(headers) > MAX_HEADER_COUNT:
        return (
            431,
            "headers_too_large",
            [Problem("headers", "headers.too_many", f"at most {MAX_HEADER_COUNT} headers")],
        )
    total = 0
    for name, value in headers:
        size = len(name) + len(value)
        if size > MAX_HEADER_BYTES:
            problem = header_problem(
                name[:64], "header.too_long", f"at most {MAX_HEADER_BYTES} bytes"
            )
            return 431, "headers_too_large", [problem]
        total += size
    if total > MAX_HEADERS_BYTES:
        return (
            431,
            "headers_too_large",
            [Problem("headers", "headers.too_large", f"at most {MAX_HEADERS_BYTES} bytes in all")],
        )
    return None


def text_headers(
    raw: dict[bytes, bytes],
) -> tuple[dict[bytes, str], list[Problem]]:
    """The audited text headers of a call, decoded and checked against their limits; a header
    that breaks a rule is left out (and named in the problems), never stored in part."""
    found: dict[bytes, str] = {}
    problems: list[Problem] = []
    for name, limit in HEADER_TEXT_LIMITS.items():
        value = raw.get(name)
        if not value:
            continue
        try:
            text = decode_header(value)
        except ValueError:
            problems.append(
                header_problem(
                    name, "header.encoding", "UTF-8, raw or as UTF-8''<percent-encoded> (RFC 8187)"
                )
            )
            continue
        if len(text) > limit:
            problems.append(header_problem(name, "header.too_long", f"at most {limit} characters"))
            continue
        if name in _ASCII_HEADERS and not (
            text.isascii() and text.isprintable() and " " not in text
        ):
            problems.append(header_problem(name, "header.charset", "visible ASCII characters only"))
            continue
        found[name] = clean_text(text) or ""
    return found, problems


def officer_token(raw: dict[bytes, bytes]) -> tuple[str | None, Problem | None]:
    """The officer token of a call (``X-Officer-Token``, an optional ``Bearer`` prefix dropped),
    or the problem of one over ``MAX_OFFICER_TOKEN``: refused before it is decoded at all."""
    value = raw.get(b"x-officer-token")
    if value is None:
        return None, None
    if len(value) > MAX_OFFICER_TOKEN:
        return None, header_problem(
            b"x-officer-token", "header.too_long", f"at most {MAX_OFFICER_TOKEN} bytes"
        )
    text = value.decode("latin-1").strip()  # a JWT is ASCII; anything else fails to decode
    if text[:7].lower() == "bearer ":
        text = text[7:].strip()
    return text, None


class Guard:
    """The outermost ASGI layer: a request over a transport bound (path, query string, headers)
    is refused before routing, audited like any other; an exception that escapes the app is
    audited and answered with the JSON error body (or, once an answer has started, only logged)
    and never reaches the server, which would print its traceback."""

    def __init__(self, app: ASGIApp, refuse: Refuse) -> None:
        self.app = app
        self.refuse = refuse  # audits and answers a refusal (``Gateway.refuse``)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        over = scope_problems(scope)
        if over is not None:
            status, error, problems = over
            out = _error(status, error, problems[0].message, problems)
            await (await self.refuse(scope, out))(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # Starlette's handler has answered (and audited) already
                return
            log.error("unexpected %s escaped the gateway", type(exc).__name__)
            out = _error(500, "internal", "the gateway failed")
            try:
                response = await self.refuse(scope, out)
            except Exception as again:  # not even the refusal could be made: still no trace
                log.error("refusing failed too (%s)", type(again).__name__)
                response = _unaudited(_error(503, "audit_unavailable", "the gateway failed"))
            await response(scope, receive, send)


def _unaudited(out: _Outcome) -> Response:
    """The error body when the refusal itself failed (the audit log is then unusable too: 503)."""
    return Response(orjson.dumps(out.body), out.status, media_type="application/json")
