"""Prometheus text-format metrics of the gateway, kept in memory (no client library needed).

Counters are updated on the event loop only (one thread), so they need no lock. Exposed at
``/metrics``: requests by service, outcome and status; rows served; time spent per service.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

__all__ = ["Metrics"]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters and summaries rendered in the Prometheus exposition format 0.0.4."""

    def __init__(self) -> None:
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
