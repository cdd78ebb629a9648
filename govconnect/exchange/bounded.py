"""Reading the platform's answers within bounds: one deadline per request, a maximum body size.

httpx's timeouts bound each socket operation, not the request: a server that trickles a byte every
few seconds never trips a 10 s read timeout and holds a delivery thread for ever, and httpx inflates
a gzip body in whole network chunks (one 64 KiB chunk of a gzip bomb is about 64 MiB). So the
exchange client

* clamps every connect, read and write of its connections to the time left before the request's
  overall deadline (:func:`install_deadline` wraps httpcore's network backend; the deadline lives
  in a context variable that :func:`deadline` sets around one attempt, so threads sharing the client
  each have their own). Headers trickled byte by byte stop at the deadline as surely as a body;
* reads the body as a stream (:func:`read_body`), decoding ``gzip``/``deflate`` itself with zlib's
  ``max_length``, so the *decoded* size is counted as it grows: a bomb stops at the limit plus one
  byte of output, never inflated whole.

Both failures are the exchange tree's: running out of time is a timeout, a :class:`RetryableError`
like any other; a body past the limit or in an encoding the client does not decode is an
:class:`UnexpectedResponseError`, not retried (the same request would get the same answer).
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from .._exceptions import RetryableError, UnexpectedResponseError

__all__ = ["ACCEPT_ENCODING", "deadline", "install_deadline", "read_body"]

log = logging.getLogger(__name__)

ACCEPT_ENCODING = "gzip, deflate"
"""What the client asks for: exactly the encodings :func:`read_body` decodes within its bound."""

_DEADLINE: ContextVar[float | None] = ContextVar("govconnect_exchange_deadline", default=None)


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every network operation of this thread inside the block ends by ``seconds`` from now."""
    end = time.monotonic() + seconds
    token = _DEADLINE.set(end)
    try:
        yield end
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout`` clamped to the time left before the deadline; ``error`` once none is left."""
    end = _DEADLINE.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the request's overall deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write is clamped to the current deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        stream = self._stream.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's network backend, handing out :class:`_DeadlineStream` connections."""

    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def install_deadline(client: httpx.Client) -> int:
    """Make the client's own transports (the default one and any proxy mounts) obey :func:`deadline`.

    httpx offers no way to hand its connection pools a network backend, so this sets httpcore's
    ``_network_backend`` on each pool the client built; a transport passed in by the caller (the
    ``httpx.MockTransport`` of unit tests) is left alone. Returns how many pools were wrapped;
    ``tests/test_hostile_client.py`` proves the wrap works with the httpx and httpcore installed,
    and :func:`read_body` still checks the deadline between chunks when it cannot apply.
    """
    wrapped = 0
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        pool = (
            getattr(transport, "_pool", None)
            if isinstance(transport, httpx.HTTPTransport)
            else None
        )
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend) and not isinstance(
            backend, _DeadlineBackend
        ):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
            wrapped += 1
    if not wrapped and isinstance(client._transport, httpx.HTTPTransport):
        log.warning("could not bound socket operations by the request deadline (httpx changed?)")
    return wrapped


class _Inflater:
    """One ``Content-Encoding`` undone with a bounded output per call."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        gzip = encoding in ("gzip", "x-gzip")
        self._raw_fallback = not gzip  # "deflate" is zlib-wrapped by the RFC, raw in practice too
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS if gzip else zlib.MAX_WBITS)
        self._started = False

    def inflate(self, data: bytes, max_length: int) -> tuple[bytes, bytes]:
        """(output of at most ``max_length`` bytes, input still to be fed back)."""
        try:
            out = self._zlib.decompress(data, max_length)
        except zlib.error:
            if self._started or not self._raw_fallback:
                raise
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self._zlib.decompress(data, max_length)
        self._started = True
        return out, self._zlib.unconsumed_tail

    def flush(self) -> bytes:
        """What is left; a stream that ended before its end marker is an error, not a short body."""
        tail = self._zlib.flush()
        if not self._zlib.eof:
            raise zlib.error("the compressed stream is truncated")
        return tail


def read_body(
    response: httpx.Response, *, limit: int, what: str, end: float | None, truncate: bool = False
) -> bytes:
    """The decoded body, at most ``limit`` bytes, read before the monotonic time ``end``.

    Past the limit it raises :class:`UnexpectedResponseError` (``too_large``), or with
    ``truncate`` returns the first ``limit`` bytes (an error body is only read for its message).
    """
    if response.is_stream_consumed:  # built in memory (an ``httpx.MockTransport`` answer)
        body = response.content
        if len(body) > limit and not truncate:
            raise _too_large(what, limit, response.status_code)
        return body[:limit]
    encoding = response.headers.get("content-encoding", "").strip().lower()
    inflater = None
    if encoding not in ("", "identity"):
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise UnexpectedResponseError(
                f"{what}: Content-Encoding {encoding[:40]!r} is not one the client asked for"
                f" ({ACCEPT_ENCODING})",
                reason="encoding",
                status=response.status_code,
            )
        inflater = _Inflater(encoding)
    declared = response.headers.get("content-length", "")
    if inflater is None and declared.isdigit() and int(declared) > limit and not truncate:
        raise _too_large(what, limit, response.status_code, declared=int(declared))
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_raw():
            if end is not None and time.monotonic() > end:
                raise RetryableError(f"{what}: the answer took longer than the request deadline")
            pending = chunk
            while pending:
                if inflater is None:
                    out, pending = pending, b""
                else:
                    out, pending = inflater.inflate(pending, limit - size + 1)
                size += len(out)
                if size > limit:
                    if truncate:
                        parts.append(out[: len(out) - (size - limit)])
                        return b"".join(parts)
                    raise _too_large(what, limit, response.status_code)
                parts.append(out)
        if inflater is not None:
            tail = inflater.flush()
            size += len(tail)
            if size > limit and not truncate:
                raise _too_large(what, limit, response.status_code)
            parts.append(tail[: max(0, len(tail) - max(0, size - limit))])
    except zlib.error as exc:
        raise UnexpectedResponseError(
            f"{what}: the {encoding} body does not decode: {exc}",
            reason="encoding",
            status=response.status_code,
        ) from exc
    return b"".join(parts)


def _too_large(
    what: str, limit: int, status: int, *, declared: int | None = None
) -> UnexpectedResponseError:
    size = f"{declared} bytes declared" if declared is not None else "more"
    return UnexpectedResponseError(
        f"{what}: the answer is larger than max_response_bytes={limit} ({size}, decoded);"
        " raise ExchangeClient(max_response_bytes=...) if the platform really sends that much",
        reason="too_large",
        status=status,
    )
