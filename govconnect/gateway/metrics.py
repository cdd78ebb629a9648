"""Prometheus text-format metrics of the gateway, kept in memory (no client library needed).

Counters are updated on the event loop only (one thread), so they need no lock. Exposed at
``/metrics``: requests by service, outcome and status; rows served; time spent per service; and,
when the gateway is given the department's outbox, its depth, oldest pending record and dead
letters (:class:`OutboxGauges`), so one scrape watches both halves of a node.

Counters are per process: with ``serve --workers N`` each scrape is answered by one worker and
shows that worker's counts (the outbox gauges are the store's, the same from every worker).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..exchange.outbox.presence import outbox_exists
from ..exchange.outbox.status import OutboxStatus
from ..exchange.outbox.store import Outbox, shown_location

__all__ = ["Metrics", "OutboxGauges"]

log = logging.getLogger("govconnect.gateway")

#: How long one reading of the outbox serves scrapes: a scrape every second costs the store one
#: count every few seconds, whatever the number of scrapers.
OUTBOX_CACHE_SECONDS = 5.0


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters and summaries rendered in the Prometheus exposition format 0.0.4."""

    def __init__(self, outbox: OutboxGauges | None = None) -> None:
        self.outbox = outbox
        self.started = time.time()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.rows: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def observe(self, service: str, outcome: Any, seconds: float) -> None:
        """Count one answered call (``outcome`` is the gateway's internal outcome record)."""
        self.requests[(service, outcome.outcome, outcome.status)] += 1
        self.rows[service] += outcome.rows
        self.seconds[service] += seconds
        self.calls[service] += 1

    async def render_all(self) -> str:
        """:meth:`render`, with the outbox gauges when an outbox is watched (read off the event
        loop, at most every ``OUTBOX_CACHE_SECONDS``)."""
        text = self.render()
        if self.outbox is not None:
            text += await self.outbox.render()
        return text

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()

    def render(self) -> str:
        lines = [
            "# HELP govconnect_gateway_requests_total Service calls answered, by outcome.",
            "# TYPE govconnect_gateway_requests_total counter",
        ]
        for (svc, outcome, status), n in sorted(self.requests.items()):
            lines.append(
                f'govconnect_gateway_requests_total{{service="{_label(svc)}",'
                f'outcome="{_label(outcome)}",status="{status}"}} {n}'
            )
        lines += [
            "# HELP govconnect_gateway_rows_total Records served.",
            "# TYPE govconnect_gateway_rows_total counter",
        ]
        for svc, n in sorted(self.rows.items()):
            lines.append(f'govconnect_gateway_rows_total{{service="{_label(svc)}"}} {n}')
        lines += [
            "# HELP govconnect_gateway_request_seconds Time to answer a service call.",
            "# TYPE govconnect_gateway_request_seconds summary",
        ]
        for svc, n in sorted(self.calls.items()):
            label = f'service="{_label(svc)}"'
            lines.append(
                f"govconnect_gateway_request_seconds_sum{{{label}}} {self.seconds[svc]:.6f}"
            )
            lines.append(f"govconnect_gateway_request_seconds_count{{{label}}} {n}")
        lines += [
            "# HELP govconnect_gateway_start_time_seconds When the gateway started (Unix time).",
            "# TYPE govconnect_gateway_start_time_seconds gauge",
            f"govconnect_gateway_start_time_seconds {self.started:.3f}",
        ]
        return "\n".join(lines) + "\n"


class OutboxGauges:
    """The outbox's numbers as gauges: records pending, the age of the oldest, dead letters, in
    flight and waiting for a retry, and whether the last reading worked.

    ``outbox``: an open :class:`~govconnect.exchange.outbox.store.Outbox` (the caller's, left
    open) or its location (a SQLite file or a PostgreSQL URL, opened here at the first reading
    and closed by :meth:`close`). A location is never created: a file that does not exist, or a
    schema without the outbox's tables (a mistyped ``--outbox`` or ``?schema=``), is scraped as
    ``govconnect_outbox_up 0`` and logged once, naming it (password left out), until an outbox
    appears there; a store that cannot be reached at start does not stop the gateway either.
    Readings run on one thread of their own (one connection to the store, never a request
    thread) and are cached for ``ttl`` seconds. A reading that fails is logged and scraped as
    ``govconnect_outbox_up 0`` with the last good numbers left out: the scrape itself never
    fails.
    """

    def __init__(
        self,
        outbox: Outbox | str,
        *,
        ttl: float = OUTBOX_CACHE_SECONDS,
        clock: Any = time.monotonic,
        now: Any = time.time,
    ) -> None:
        self._owned = not isinstance(outbox, Outbox)
        self.outbox: Outbox | None = outbox if isinstance(outbox, Outbox) else None
        self.location = str(outbox.path if isinstance(outbox, Outbox) else outbox)
        self._missing_told = False
        self.ttl = ttl
        self._clock, self._now = clock, now
        self._cached: tuple[float, str] | None = None
        self._lock = threading.Lock()
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="govconnect-outbox-gauges")

    async def render(self) -> str:
        cached = self._cached
        if cached is not None and self._clock() - cached[0] < self.ttl:
            return cached[1]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._read)

    def _read(self) -> str:
        """One reading (on the gauges' own thread), unless another scrape just made one."""
        with self._lock:
            cached = self._cached
            if cached is not None and self._clock() - cached[0] < self.ttl:
                return cached[1]
            down = _UP_HELP + "govconnect_outbox_up 0\n"
            try:
                outbox = self._open()
                text = down if outbox is None else _outbox_lines(outbox.status(), self._now())
            except Exception as exc:  # the store is down: say so in the scrape, keep serving
                log.warning("metrics: outbox unavailable (%s: %s)", type(exc).__name__, exc)
                text = down
            self._cached = (self._clock(), text)
            return text

    def _open(self) -> Outbox | None:
        """The watched outbox, opened at the first reading that finds one there; ``None`` (and
        a warning, once) while the location holds none: nothing is created to watch."""
        if self.outbox is None:
            if not outbox_exists(self.location):
                if not self._missing_told:
                    self._missing_told = True
                    log.warning(
                        "metrics: no outbox at %s (nothing is created there; check --outbox or"
                        " GOVCONNECT_OUTBOX): govconnect_outbox_up 0 until one exists",
                        shown_location(self.location),
                    )
                return None
            self.outbox = Outbox(self.location)
        return self.outbox

    def close(self) -> None:
        self._reader.shutdown(wait=True)
        if self._owned and self.outbox is not None:
            self.outbox.close()


_UP_HELP = (
    "# HELP govconnect_outbox_up Whether the last reading of the outbox worked.\n"
    "# TYPE govconnect_outbox_up gauge\n"
)
_GAUGES = (
    ("pending_records", "Records (and case status changes) not yet delivered.", "pending"),
    ("in_flight_records", "Pending records leased to a delivery worker now.", "in_flight"),
    ("waiting_records", "Pending records waiting for a retry.", "waiting"),
    ("dead_letters", "Batches the platform refused for good (outbox dead).", "dead"),
    ("dead_letter_records", "Records in those batches.", "dead_records"),
)


def _outbox_lines(status: OutboxStatus, now: float) -> str:
    lines = [_UP_HELP + "govconnect_outbox_up 1"]
    for name, help_text, field in _GAUGES:
        lines += [
            f"# HELP govconnect_outbox_{name} {help_text}",
            f"# TYPE govconnect_outbox_{name} gauge",
            f"govconnect_outbox_{name} {getattr(status, field)}",
        ]
    oldest = status.oldest_pending
    age = 0.0 if oldest is None else max(0.0, now - oldest)
    lines += [
        "# HELP govconnect_outbox_oldest_pending_age_seconds Age of the oldest pending record "
        "(0 when none is pending).",
        "# TYPE govconnect_outbox_oldest_pending_age_seconds gauge",
        f"govconnect_outbox_oldest_pending_age_seconds {age:.3f}",
    ]
    return "\n".join(lines) + "\n"
