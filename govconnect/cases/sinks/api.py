"""Parameter passing (参数传递): the mapped case as a call to the legacy system's own API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ..._exceptions import InvalidInputError, Problem, RetryableError
from ...exchange.platform import encode_case_id
from .base import SinkResult, _jsonable

__all__ = ["ApiSink"]


RETRYABLE_STATUSES = frozenset({401, 403, 408, 425, 429})
"""Legacy API answers that are not the case's fault: our credentials (being rotated, expired), a
timeout, throttling. The case waits for the next round instead of going back to the citizen."""


class ApiSink:
    """Call the legacy system's REST API with the mapped case as JSON.

    The case id travels as ``Idempotency-Key`` (percent-encoded UTF-8 as on the platform, so any
    Unicode id fits a header; ids of letters, digits, ``-`` and ``_`` are unchanged) so a legacy
    API that honours it never creates a second record; a 409 Conflict (the legacy system's own "already have it") counts as delivered.
    Subclass and override :meth:`request` / :meth:`parse` for SOAP or form-encoded services.
    """

    def __init__(
        self,
        client: httpx.Client,
        path: str,
        *,
        method: str = "POST",
        key_header: str = "Idempotency-Key",
    ) -> None:
        self.client, self.path, self.method, self.key_header = client, path, method, key_header

    def request(self, case_id: str, values: Mapping[str, Any]) -> httpx.Request:
        body = {k: _jsonable(v) for k, v in values.items()}
        return self.client.build_request(
            self.method, self.path, json=body, headers={self.key_header: encode_case_id(case_id)}
        )

    def parse(self, case_id: str, response: httpx.Response) -> SinkResult:
        """A 2xx means the legacy system took the case, whatever its body says."""
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        reference = data.get("reference") or data.get("id") if isinstance(data, dict) else None
        return SinkResult(
            applied=not (isinstance(data, dict) and data.get("duplicate")),
            reference=str(reference) if reference is not None else None,
            result=data if isinstance(data, dict) else {},
        )

    def write(self, case_id: str, values: Mapping[str, Any]) -> SinkResult:
        try:
            response = self.client.send(self.request(case_id, values))
        except httpx.TransportError as exc:
            raise RetryableError(f"legacy API unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 409:
            return SinkResult(applied=False, reference=None)
        if response.status_code in RETRYABLE_STATUSES or response.status_code >= 500:
            raise RetryableError(
                f"legacy API answered {response.status_code}", status=response.status_code
            )
        if response.status_code >= 400:
            raise InvalidInputError(
                _legacy_problems(response), summary="the legacy system refused the case"
            )
        return self.parse(case_id, response)

    def close(self) -> None:
        self.client.close()


def _legacy_problems(response: httpx.Response) -> list[Problem]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("problems"), list):
        return [
            Problem(
                str(p.get("field", "?")), str(p.get("rule", "legacy")), str(p.get("message", ""))
            )
            for p in body["problems"]
            if isinstance(p, dict)
        ]
    text = (body.get("message") if isinstance(body, dict) else None) or response.text[:200]
    return [Problem("(legacy)", f"http_{response.status_code}", text or response.reason_phrase)]
