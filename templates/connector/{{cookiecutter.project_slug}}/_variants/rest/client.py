"""The vendor's client for the legacy system's HTTP API, built on ``requests``.

Many legacy systems are reached through a client library their vendor already ships; the connector
wraps it rather than rewriting it. This one stands in for such a library: ``GET /people/{id}``
answers ``{"sfzh", "xm", "xzqh", "djrq"}`` (legacy field names, date as YYYYMMDD) or 404, and
``POST /applications`` takes an application (``Idempotency-Key: <case id>``), answering 201 with its
``reference``, or 200 with ``"duplicate": true`` when it has the case already.
Failures are translated at this boundary into govconnect's exception tree.
"""

from __future__ import annotations

from typing import Any

import requests
from govconnect import ConfigurationError, GovConnectError, InvalidInputError, Problem

__all__ = ["LegacyClient", "LegacySystemError"]


class LegacySystemError(GovConnectError):
    """The legacy system failed to answer (unreachable, timed out, or an error status)."""


class LegacyClient:
    """A thin client: one session, a base URL, a timeout on every call."""

    def __init__(
        self, base_url: str, *, timeout: float = 10.0, session: requests.Session | None = None
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"legacy base URL {base_url!r} is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()

    def person(self, citizen_id: str) -> dict[str, Any] | None:
        """The legacy record of one person, or ``None`` when the system knows nobody by that ID."""
        url = f"{self.base_url}/people/{citizen_id}"
        try:
            response = self.session.get(url, timeout=self.timeout)
        except requests.RequestException as exc:
            raise LegacySystemError(f"legacy system unreachable at {url}: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise LegacySystemError(f"legacy system answered {response.status_code} for {url}")
        data: dict[str, Any] = response.json()
        return data

    def submit_application(self, case_id: str, values: dict[str, Any]) -> tuple[bool, str | None]:
        """Pass an application to the legacy system: ``(created, reference)``.

        The case id travels as ``Idempotency-Key``, so a redelivered case is not created twice.
        A 4xx is the legacy system refusing the application (``InvalidInputError``); anything
        else that fails is a :class:`LegacySystemError` and worth retrying later.
        """
        url = f"{self.base_url}/applications"
        try:
            response = self.session.post(
                url, json=values, headers={"Idempotency-Key": case_id}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise LegacySystemError(f"legacy system unreachable at {url}: {exc}") from exc
        if 400 <= response.status_code < 500:
            reason = response.text[:200] or response.reason
            raise InvalidInputError(
                [Problem("application", "legacy.refused", f"{response.status_code}: {reason}")]
            )
        if response.status_code not in (200, 201):
            raise LegacySystemError(f"legacy system answered {response.status_code} for {url}")
        data: dict[str, Any] = response.json()
        return not data.get("duplicate", False), data.get("reference")

    def close(self) -> None:
        self.session.close()
