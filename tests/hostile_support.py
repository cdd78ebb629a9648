"""A tiny raw-socket HTTP server on 127.0.0.1 that answers whatever a test scripts, byte by byte.

Starlette and uvicorn are too well behaved to trickle headers, lie about lengths or send a gzip bomb,
so hostile-platform tests talk to this: one thread accepts, each connection reads one request
(head and ``Content-Length`` body) and hands the socket to ``answer(conn, request)``, then closes.
Every socket operation has a timeout and the server stops with the test, so nothing here can hang.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

Answer = Callable[[socket.socket, bytes], None]


def response(
    status: int = 200,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    *,
    reason: str = "X",
    length: bool = True,
) -> bytes:
    """One HTTP/1.1 response as bytes (``Connection: close``; ``Content-Length`` unless told)."""
    head = [f"HTTP/1.1 {status} {reason}"]
    fields = {"Connection": "close", **(headers or {})}
    if length and "Content-Length" not in fields:
        fields["Content-Length"] = str(len(body))
    head += [f"{k}: {v}" for k, v in fields.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class RawServer:
    """``with RawServer(answer) as server: server.url``; ``server.requests`` counts what came in."""

    def __init__(self, answer: Answer | bytes) -> None:
        self.answer: Answer = answer if callable(answer) else _send(answer)
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="raw-server", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # shutting down wakes the accept at once on Linux
            self._sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = _read_request(conn)
                self.requests.append(request)
                self.answer(conn, request)
            except OSError:
                pass  # the client gave up (its deadline) or reset: that is what tests provoke

    def stopping(self) -> bool:
        return self._stop.is_set()


def _send(data: bytes) -> Answer:
    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(data)

    return answer


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


_CLI = (
    "import typer\n"
    "from govconnect.cli import mock_platform\n"
    "app = typer.Typer()\n"
    "@app.callback()\n"
    "def root() -> None: ...\n"
    "mock_platform.register(app)\n"
    "app()\n"
)


@contextlib.contextmanager
def mock_platform_cli(*args: str) -> Iterator[tuple[str, list[str]]]:
    """``govconnect mock-platform ARGS`` in its own process: (its URL, the lines it printed after)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _CLI, "mock-platform", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        url = None
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("URL:"):
                url = line.split()[1]
        assert url is not None, proc.stderr.read()
        yield url, [proc.stdout.readline()]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
