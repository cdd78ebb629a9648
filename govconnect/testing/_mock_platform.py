"""A mock exchange platform: a real HTTP server on loopback, with inspection and fault injection.

Vendors and tests need a platform that misbehaves on purpose. :class:`MockPlatform` serves the
application of :mod:`._mock_app` with uvicorn in a background thread on ``127.0.0.1`` (a free port
unless one is given), keeps all state in memory, exposes it for inspection and lets a test change the
faults while it runs. ``govconnect mock-platform`` serves the same thing in the foreground.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import uvicorn

from ._mock_app import Faults, PlatformState, _ResettableH11Protocol, create_app

__all__ = ["DEFAULT_NODE", "MockPlatform"]

log = logging.getLogger(__name__)

DEFAULT_NODE = "11010000000/intake"
"""The node cases go to when ``enqueue_case`` is not told otherwise."""

_case_numbers = itertools.count(1)


class MockPlatform:
    """The mock platform as a context manager::

        with MockPlatform(faults="hostile", seed=7) as platform:
            client = ExchangeClient(platform.url, token=platform.token, node=..., user_id=...)
            ...
            assert platform.duplicates_refused >= 0

    ``faults`` is a profile name (``none``, ``flaky``, ``hostile``) or a :class:`Faults`; change it
    while running with :meth:`set_faults`, or take the platform down with :meth:`outage`.
    """

    def __init__(
        self,
        *,
        faults: str | Faults = "none",
        seed: int | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self._state = PlatformState(token=self.token, faults=_faults(faults), seed=seed)
        self._host, self._port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._sock is None:
            raise RuntimeError("the mock platform is not running; use it as a context manager")
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def config(self) -> uvicorn.Config:
        """The uvicorn configuration serving this platform (used by the CLI to run it in front)."""
        return uvicorn.Config(
            create_app(self._state),
            http=_ResettableH11Protocol,
            ws="none",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
        )

    def bind(self) -> socket.socket:
        """Bind the listening socket now, so ``url`` is known before serving starts."""
        if self._sock is None:
            # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
            # and without it every response waits ~40 ms for a delayed ACK (Nagle).
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
            sock.listen(1024)
            self._sock = sock
        return self._sock

    def start(self, timeout: float = 10.0) -> MockPlatform:
        sock = self.bind()
        self._server = uvicorn.Server(self.config())
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="mock-platform", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the mock platform did not start")
            time.sleep(0.01)
        log.info("mock platform listening", extra={"url": self.url})
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> MockPlatform:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- fault injection ---------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._state.faults

    def set_faults(self, faults: str | Faults | None = None, /, **changes: float) -> Faults:
        """Replace the faults (a profile or :class:`Faults`) and/or change some rates, live."""
        with self._state.lock:
            base = self._state.faults if faults is None else _faults(faults)
            self._state.faults = base.replace(**changes) if changes else base
            return self._state.faults

    def outage(self, seconds: float) -> None:
        """Answer every request with 503 and ``Retry-After`` for the next ``seconds``."""
        with self._state.lock:
            self._state.outage_until = time.monotonic() + seconds

    def end_outage(self) -> None:
        with self._state.lock:
            self._state.outage_until = 0.0

    # --- intake --------------------------------------------------------------------------------

    def enqueue_case(
        self, case: Mapping[str, Any] | None = None, *, node: str = DEFAULT_NODE, **fields: Any
    ) -> dict[str, Any]:
        """File a case as if a citizen had applied at the one window; ``node`` will pull it."""
        body = {**(case or {}), **fields}
        body.setdefault("case_id", f"CASE-{next(_case_numbers):06d}")
        body.setdefault("matter_code", "000000000000")
        with self._state.lock:
            if body["case_id"] in self._state.case_owner:
                raise ValueError(f"case {body['case_id']!r} already exists")
            self._state.cases[node].append(body)
            self._state.case_owner[body["case_id"]] = node
        return body

    def enqueue_raw(self, element: Any, *, node: str = DEFAULT_NODE) -> None:
        """File anything as one element of the pulled list, even what breaks the contract (not an
        object, no ``case_id``, an id that is not text): for tests of a node facing a hostile or
        broken platform. An element with a text id can be acknowledged like any case."""
        with self._state.lock:
            self._state.cases[node].append(element)
            case_id = element.get("case_id") if isinstance(element, dict) else None
            if isinstance(case_id, str):
                self._state.case_owner.setdefault(case_id, node)

    # --- inspection ----------------------------------------------------------------------------

    def records(self, resource_code: str) -> list[dict[str, Any]]:
        """Every record applied for the resource, in order (a record applied twice appears twice)."""
        with self._state.lock:
            return list(self._state.applied.get(resource_code, ()))

    @property
    def records_received(self) -> dict[str, int]:
        """Records applied per resource code."""
        with self._state.lock:
            return {code: len(rows) for code, rows in self._state.applied.items()}

    def latest(self, resource_code: str) -> dict[Any, dict[str, Any]]:
        """Latest state per record id (deletes removed) — what a consumer of the resource sees."""
        with self._state.lock:
            return dict(self._state.latest.get(resource_code, {}))

    def applications(self, resource_code: str, record_id: Any) -> int:
        """How many times a record with this id was applied (upserts and deletes)."""
        with self._state.lock:
            return self._state.applications.get((resource_code, record_id), 0)

    @property
    def idempotency_keys(self) -> int:
        """Distinct idempotency keys of applied batches."""
        with self._state.lock:
            return len(self._state.keys)

    @property
    def duplicates_refused(self) -> int:
        """Repeated keys acknowledged without applying (batches and status posts)."""
        with self._state.lock:
            return self._state.duplicates

    @property
    def catalog(self) -> dict[str, dict[str, Any]]:
        """Latest version of each registered resource, by code."""
        with self._state.lock:
            return {code: v[max(v)] for code, v in self._state.catalog.items() if v}

    @property
    def case_statuses(self) -> dict[str, list[dict[str, Any]]]:
        """Status changes posted per case, in order."""
        with self._state.lock:
            return {case: list(h) for case, h in self._state.statuses.items()}

    @property
    def acknowledged_cases(self) -> set[str]:
        with self._state.lock:
            return set(self._state.acked)

    @property
    def requests_served(self) -> int:
        with self._state.lock:
            return self._state.requests

    @property
    def faults_injected(self) -> dict[str, int]:
        with self._state.lock:
            return dict(self._state.faults_injected)


def _faults(faults: str | Faults) -> Faults:
    return Faults.profile(faults) if isinstance(faults, str) else faults
