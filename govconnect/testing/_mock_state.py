"""What the mock exchange platform holds: faults, tokens and bounded state, behind one lock.

Memory stays bounded however long a soak runs: per resource the mock keeps the *latest* version of
each record id and counters (records applied, applications per id), plus the last ``history``
records for :meth:`MockPlatform.records`; never every record it ever received (that was 7 GB after
2.8M records). What still grows is one entry per distinct record id, per idempotency key (one per
batch, not per record: a 32-byte digest and the small answer) and per case.

Tokens are bound to nodes: a token authenticates one node, so a caller changing
``X-GovConnect-Node`` cannot read another node's cases. The platform's own token binds to the node
given at start (``MockPlatform(node=...)``, ``govconnect mock-platform --node``) or else to the
first node that uses it; :meth:`PlatformState.issue_token` gives further nodes their own.
"""

from __future__ import annotations

import math
import random
import secrets
import threading
import time
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..exchange import platform as P

__all__ = ["DEFAULT_HISTORY", "FAULT_PROFILES", "CorrectionBox", "Faults", "PlatformState"]

DEFAULT_HISTORY = 1000
"""Records kept per resource for :meth:`MockPlatform.records` (the most recent ones)."""


@dataclass(frozen=True, slots=True)
class Faults:
    """What the mock does wrong, as rates in [0, 1] per request (drawn from one seeded RNG).

    ``error_rate`` answers 500, ``throttle_rate`` 429 with ``Retry-After: retry_after``,
    ``reset_rate`` resets the TCP connection before reading the request, ``lost_response_rate``
    applies a mutating request then resets the connection, ``latency`` delays every answer.
    """

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    reset_rate: float = 0.0
    lost_response_rate: float = 0.0
    latency: float = 0.0
    retry_after: float = 1.0

    def __post_init__(self) -> None:
        for name in ("error_rate", "throttle_rate", "reset_rate", "lost_response_rate"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} is a rate in [0, 1] (0.05 is 5%), not {rate!r}")
        for name in ("latency", "retry_after"):
            seconds = getattr(self, name)
            if not 0.0 <= seconds < math.inf:
                raise ValueError(f"{name} is seconds >= 0, not {seconds!r}")

    @classmethod
    def profile(cls, name: str) -> Faults:
        """A named profile: ``none``, ``flaky`` or ``hostile``."""
        try:
            return FAULT_PROFILES[name]
        except KeyError:
            known = ", ".join(FAULT_PROFILES)
            raise ValueError(f"unknown fault profile {name!r} (known: {known})") from None

    def replace(self, **changes: float) -> Faults:
        return replace(self, **changes)


FAULT_PROFILES: dict[str, Faults] = {
    "none": Faults(),
    "flaky": Faults(error_rate=0.03, throttle_rate=0.03, reset_rate=0.01, lost_response_rate=0.01),
    "hostile": Faults(
        error_rate=0.10,
        throttle_rate=0.10,
        reset_rate=0.05,
        lost_response_rate=0.10,
        latency=0.002,
    ),
}


@dataclass(slots=True)
class BatchKey:
    """What the mock remembers of an applied batch: enough to refuse a replay, nothing more."""

    digest: bytes
    resource_code: str
    accepted: int
    batch_id: str

    def answer(self, *, duplicate: bool) -> dict[str, Any]:
        return {
            "resource_code": self.resource_code,
            "accepted": self.accepted,
            "duplicate": duplicate,
            "batch_id": self.batch_id,
        }


def record_key(rid: Any) -> Any:
    """A record id as a dict key (ids are strings or integers; anything else by its JSON text)."""
    return rid if isinstance(rid, str | int) and not isinstance(rid, bool) else repr(rid)


class PlatformState:
    """Everything the mock platform holds, guarded by one lock; read it through ``MockPlatform``."""

    def __init__(
        self,
        *,
        token: str,
        faults: Faults = Faults(),
        seed: int | None = None,
        node: str | None = None,
        history: int = DEFAULT_HISTORY,
    ) -> None:
        if history < 0:
            raise ValueError(f"history is a number of records >= 0, not {history!r}")
        self.lock = threading.Lock()
        self.token = token
        self.tokens: dict[str, str | None] = {token: node}
        """Every token this platform accepts and the node it is bound to (None: the first user)."""
        self.faults = faults
        self.rng = random.Random(seed)
        self.outage_until = 0.0
        self.history = history
        self.catalog: dict[str, dict[int, dict[str, Any]]] = {}
        self.received: Counter[str] = Counter()
        self.recent: dict[str, deque[dict[str, Any]]] = {}
        self.latest: dict[str, dict[Any, dict[str, Any]]] = defaultdict(dict)
        self.applications: dict[str, Counter[Any]] = defaultdict(Counter)
        self.keys: dict[str, BatchKey] = {}
        self.duplicates = 0
        self.cases: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.case_owner: dict[str, str] = {}
        self.acked: set[str] = set()
        self.statuses: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.status_keys: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.faults_injected: dict[str, int] = defaultdict(int)
        self.corrections = CorrectionBox(history)

    def draw(self) -> str | None:
        """Pick the fault for one request (or None), consuming the seeded RNG deterministically."""
        with self.lock:
            self.requests += 1
            if time.monotonic() < self.outage_until:
                fault = "outage"
            else:
                f, roll = self.faults, self.rng.random()
                fault = None
                for name, rate in (
                    ("error", f.error_rate),
                    ("throttle", f.throttle_rate),
                    ("reset", f.reset_rate),
                    ("lost_response", f.lost_response_rate),
                ):
                    if roll < rate:
                        fault = name
                        break
                    roll -= rate
            if fault is not None:
                self.faults_injected[fault] += 1
            return fault

    # --- tokens -------------------------------------------------------------------------------

    def issue_token(self, node: str) -> str:
        """A token for ``node`` (the same one on every call for that node)."""
        if not P.NODE_PATTERN.match(node):
            raise ValueError(f"node {node!r} is not {{department_code}}/{{system_code}}")
        with self.lock:
            for token, owner in self.tokens.items():
                if owner == node:
                    return token
            token = secrets.token_urlsafe(24)
            self.tokens[token] = node
            return token

    def known_token(self, authorization: str) -> str | None:
        """The token an ``Authorization: Bearer`` value carries, if this platform issued it."""
        presented = authorization.encode()
        with self.lock:
            tokens = list(self.tokens)
        found = None
        for token in tokens:  # compare with every token, so timing does not tell which matched
            if secrets.compare_digest(presented, f"Bearer {token}".encode()):
                found = token
        return found

    def bind(self, token: str, node: str) -> str | None:
        """The node ``token`` belongs to, binding it to ``node`` if it was not bound yet."""
        with self.lock:
            owner = self.tokens.get(token)
            if owner is None:
                self.tokens[token] = owner = node
            return owner

    # --- records ------------------------------------------------------------------------------

    def apply(self, code: str, records: Iterable[dict[str, Any]]) -> int:
        """Apply records (lock held by the caller): latest per id, counters, the recent few."""
        latest, applications = self.latest[code], self.applications[code]
        recent = self.recent.get(code)
        if recent is None:
            recent = self.recent[code] = deque(maxlen=self.history)
        count = 0
        for record in records:
            count += 1
            recent.append(record)
            rid = record.get("id")
            if rid is not None:
                key = record_key(rid)
                applications[key] += 1
                if record.get("op", "upsert") == "delete":
                    latest.pop(key, None)
                else:
                    latest[key] = record
        self.received[code] += count
        return count

    def retained(self) -> int:
        """How many entries the mock holds (records, ids, keys, cases): what a soak must bound."""
        with self.lock:
            return (
                sum(len(d) for d in self.latest.values())
                + sum(len(c) for c in self.applications.values())
                + sum(len(r) for r in self.recent.values())
                + len(self.keys)
                + len(self.status_keys)
                + sum(len(h) for h in self.statuses.values())
                + sum(len(c) for c in self.cases.values())
                + self.corrections.retained()
            )


class CorrectionBox:
    """The notices the mock accepted (the newest ``history`` of them, by id), every notice id
    and idempotency key it has seen, and counters. Guarded by the platform state's lock."""

    def __init__(self, history: int) -> None:
        self.history = history
        self.notices: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.ids: set[str] = set()
        self.keys: dict[str, str] = {}
        """Idempotency key -> the notice id it was first used for."""
        self.accepted = 0

    def accept(self, notice: dict[str, Any]) -> None:
        self.ids.add(notice["notice_id"])
        self.notices[notice["notice_id"]] = notice
        while len(self.notices) > self.history:
            self.notices.popitem(last=False)
        self.accepted += 1

    def retained(self) -> int:
        return len(self.notices) + len(self.ids) + len(self.keys)

    def summary(self) -> dict[str, Any]:
        by_department: dict[str, int] = {}
        for notice in self.notices.values():
            code = notice["disputed"]["department_code"]
            by_department[code] = by_department.get(code, 0) + 1
        return {
            "accepted": self.accepted,
            "kept": len(self.notices),
            "by_department": by_department,
        }
