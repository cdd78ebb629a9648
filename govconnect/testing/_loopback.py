"""A uvicorn server in a background thread on a loopback socket: what the mock servers share.

The mock exchange platform and the mock identity center are both real HTTP servers that a test
starts, inspects and stops, or that the CLI serves in the foreground. The socket is bound before
serving starts, so the URL (for the identity center: its issuer identifier) is known first.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

import uvicorn

__all__ = ["LoopbackServer", "ServedInTests"]

log = logging.getLogger(__name__)


class ServedInTests(ABC):
    """A server a test uses as a context manager: ``with Fake() as fake:`` starts it and stops it
    whatever the test does."""

    @abstractmethod
    def start(self) -> Self:
        """Start serving in the background; returns the server."""

    @abstractmethod
    def stop(self) -> None:
        """Stop serving and release the socket."""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class LoopbackServer(ServedInTests):
    """Subclasses give :meth:`config` (the uvicorn configuration) and ``_what`` (a name for
    messages); this runs it in a daemon thread, as a context manager."""

    _what = "the mock server"
    _backlog = 1024

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @abstractmethod
    def config(self) -> uvicorn.Config:
        """The uvicorn configuration serving this server's application."""

    @property
    def url(self) -> str:
        if self._sock is None:
            raise RuntimeError(f"{self._what} is not running; use it as a context manager")
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def bind(self) -> socket.socket:
        """Bind the listening socket now, so ``url`` is known before serving starts."""
        if self._sock is None:
            # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
            # and without it every response waits ~40 ms for a delayed ACK (Nagle).
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(self._backlog)
            self._sock = sock
        return self._sock

    def start(self, timeout: float = 10.0) -> Self:
        sock = self.bind()
        self._server = uvicorn.Server(self.config())
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=self._what.removeprefix("the ").replace(" ", "-"),
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self._what} did not start")
            time.sleep(0.01)
        log.info("%s listening", self._what, extra={"url": self.url})
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
