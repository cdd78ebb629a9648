"""A mock exchange platform: a real HTTP server on loopback, with inspection and fault injection.

Vendors and tests need a platform that misbehaves on purpose. :class:`MockPlatform` serves the
application of :mod:`._mock_app` with uvicorn in a background thread on ``127.0.0.1`` (a free port
unless one is given), keeps its bounded state in memory (:mod:`._mock_state`), exposes it for
inspection — in process through the properties below, over HTTP through ``/_mock/inspect``
(:mod:`._mock_inspect`) — and lets a test change the faults while it runs. ``govconnect
mock-platform`` serves the same thing in the foreground.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Mapping
from typing import Any

import uvicorn

from ._loopback import LoopbackServer
from ._mock_app import _ResettableH11Protocol, create_app
from ._mock_inspect import corrections_view, summary
from ._mock_intake import applicant_auth
from ._mock_state import DEFAULT_HISTORY, Faults, PlatformState, record_key

__all__ = ["DEFAULT_NODE", "MockPlatform"]

DEFAULT_NODE = "11010000000/intake"
"""The node cases go to when ``enqueue_case`` is not told otherwise."""

_case_numbers = itertools.count(1)


class MockPlatform(LoopbackServer):
    """The mock platform as a context manager (started and stopped by :class:`LoopbackServer`)::

        with MockPlatform(faults="hostile", seed=7) as platform:
            client = ExchangeClient(platform.url, token=platform.token, node=..., user_id=...)
            ...
            assert platform.duplicates_refused >= 0

    ``faults`` is a profile name (``none``, ``flaky``, ``hostile``) or a :class:`Faults`; change it
    while running with :meth:`set_faults`, or take the platform down with :meth:`outage`.

    ``token`` authenticates one node: ``node`` when given, else the first node that uses it. A
    test playing several nodes asks :meth:`token_for` for each other node's token. ``history``
    is how many of the most recent records per resource :meth:`records` keeps.
    """

    _what = "the mock platform"

    def __init__(
        self,
        *,
        faults: str | Faults = "none",
        seed: int | None = None,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        node: str | None = None,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        self.token = token or secrets.token_urlsafe(24)
        self._state = PlatformState(
            token=self.token, faults=_faults(faults), seed=seed, node=node, history=history
        )
        super().__init__(host, port)

    # --- lifecycle (serving: ``LoopbackServer``) -----------------------------------------------

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

    def token_for(self, node: str) -> str:
        """The token that authenticates ``node`` (issued on first ask; the platform's own token
        if that is already bound to ``node``)."""
        return self._state.issue_token(node)

    # --- intake --------------------------------------------------------------------------------

    def enqueue_case(
        self,
        case: Mapping[str, Any] | None = None,
        *,
        node: str = DEFAULT_NODE,
        auth_level: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """File a case as if a citizen had applied at the one window; ``node`` will pull it.
        ``auth_level`` (``L1``–``L4``): the applicant logged in at that level (an
        ``applicant_auth`` block, :func:`~._mock_intake.applicant_auth`)."""
        body = {**(case or {}), **fields}
        if auth_level is not None:
            body["applicant_auth"] = applicant_auth(auth_level)
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
        """The most recent records applied for the resource, in order, at most ``history`` of
        them (a record applied twice appears twice). Count with :meth:`application_counts`."""
        with self._state.lock:
            return list(self._state.recent.get(resource_code, ()))

    @property
    def records_received(self) -> dict[str, int]:
        """Records applied per resource code."""
        with self._state.lock:
            return dict(self._state.received)

    def latest(self, resource_code: str) -> dict[Any, dict[str, Any]]:
        """Latest state per record id (deletes removed) — what a consumer of the resource sees."""
        with self._state.lock:
            return dict(self._state.latest.get(resource_code, {}))

    def applications(self, resource_code: str, record_id: Any) -> int:
        """How many times a record with this id was applied (upserts and deletes)."""
        with self._state.lock:
            counts = self._state.applications.get(resource_code, {})
            return counts.get(record_key(record_id), 0)

    def application_counts(self, resource_code: str) -> dict[Any, int]:
        """Applications per record id of the resource: ``{id: n}``; n > 1 means applied twice."""
        with self._state.lock:
            return dict(self._state.applications.get(resource_code, {}))

    def corrections(self, department_code: str | None = None) -> list[dict[str, Any]]:
        """The correction notices accepted (the newest ``history``, oldest first; each id once),
        those addressed to ``department_code`` when given: what a cross-check sent back."""
        return corrections_view(self._state, department_code)

    @property
    def corrections_accepted(self) -> int:
        """Distinct correction notices accepted (repeats are counted in ``duplicates_refused``)."""
        with self._state.lock:
            return self._state.corrections.accepted

    def inspect(self) -> dict[str, Any]:
        """What ``GET /_mock/inspect`` answers: counters, catalog, resources, cases."""
        return summary(self._state)

    @property
    def retained_entries(self) -> int:
        """Entries held in memory (records, ids, keys, cases): bounded by distinct ids, not by
        records received; the soak test watches it."""
        return self._state.retained()

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
