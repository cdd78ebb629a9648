"""A sample of the legacy HTTP API: the answers it gives, and a fake that gives them.

The fake is built on ``responses`` (through :func:`govconnect.testing.fake_legacy_http`): while it
is active every ``requests`` call of the vendor's client is answered here, so the connector runs
unchanged. The conformance kit uses :func:`sample_legacy_system`; the tests use the ``legacy_http``
fixture of govconnect's pytest plugin with :func:`register_sample_answers`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sample_data import sample_people

if TYPE_CHECKING:
    import responses

__all__ = [
    "APPLICATION_FIELDS",
    "SAMPLE_BASE_URL",
    "register_sample_answers",
    "sample_legacy_system",
    "sample_rows",
]

SAMPLE_BASE_URL = "http://legacy.example/api"
"""Where the fake legacy API answers (``.example`` is reserved: it never reaches a real host)."""

APPLICATION_FIELDS = ("sqbh", "sfzh", "xm", "sqsj", "ly")
"""Fields of an application the legacy API takes: case number, ID number, name, time, source."""


def sample_rows() -> list[dict[str, Any]]:
    """The sample people as the legacy API returns them: dates as YYYYMMDD text."""
    return [{**person, "djrq": f"{person['djrq']:%Y%m%d}"} for person in sample_people()]


def register_sample_answers(mock: responses.RequestsMock, base_url: str = SAMPLE_BASE_URL) -> None:
    """Make ``mock`` answer like the legacy system would: ``GET {base_url}/people/{id}`` and
    ``POST {base_url}/applications`` (idempotent by the ``Idempotency-Key`` header)."""
    people = {row["sfzh"]: row for row in sample_rows()}
    applications: dict[str, dict[str, Any]] = {}

    def submit(request: Any) -> tuple[int, dict[str, str], str]:
        key = request.headers.get("Idempotency-Key", "")
        body = json.loads(request.body)
        missing = [name for name in APPLICATION_FIELDS if not body.get(name)]
        if not key or missing:
            return 422, {}, json.dumps({"error": f"missing {missing or 'Idempotency-Key'}"})
        headers = {"Content-Type": "application/json"}
        if key in applications:
            reference = applications[key]["reference"]
            return 200, headers, json.dumps({"reference": reference, "duplicate": True})
        applications[key] = {**body, "reference": f"SQ-{len(applications) + 1:06d}"}
        return 201, headers, json.dumps({"reference": applications[key]["reference"]})

    def person(request: Any) -> tuple[int, dict[str, str], str]:
        citizen_id = request.url.rstrip("/").rsplit("/", 1)[-1]
        row = people.get(citizen_id)
        if row is None:
            return 404, {}, json.dumps({"error": "not found"})
        return 200, {"Content-Type": "application/json"}, json.dumps(row, ensure_ascii=False)

    mock.add_callback("GET", re.compile(re.escape(base_url) + r"/people/[^/]+$"), callback=person)
    mock.add_callback("POST", f"{base_url}/applications", callback=submit)


def sample_legacy_system(folder: Path) -> Iterator[dict[str, str]]:
    """The fake legacy API, active while the conformance checks run; yields connector settings."""
    from govconnect.testing import fake_legacy_http

    with fake_legacy_http() as mock:
        register_sample_answers(mock)
        yield {"base_url": SAMPLE_BASE_URL}
