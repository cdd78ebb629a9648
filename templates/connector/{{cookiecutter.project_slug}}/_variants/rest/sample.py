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
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govconnect import citizen_id_check_char

if TYPE_CHECKING:
    import responses

__all__ = [
    "APPLICATION_FIELDS",
    "MATTER_CODE",
    "SAMPLE_BASE_URL",
    "SAMPLE_CITIZEN_ID",
    "register_sample_answers",
    "sample_case",
    "sample_legacy_system",
    "sample_rows",
]

SAMPLE_BASE_URL = "http://legacy.example/api"
"""Where the fake legacy API answers (``.example`` is reserved: it never reaches a real host)."""

APPLICATION_FIELDS = ("sqbh", "sfzh", "xm", "sqsj", "ly")
"""Fields of an application the legacy API takes: case number, ID number, name, time, source."""

MATTER_CODE = "{{ cookiecutter.matter_code }}"
"""Matter code (事项编码) of the applications the intake handler passes to the legacy API."""

_PEOPLE = [
    ("张伟", "110105", date(1985, 3, 12), 11),
    ("王芳", "110105", date(1990, 7, 1), 22),
    ("李娜", "110101", date(1978, 11, 30), 24),
]


def sample_rows() -> list[dict[str, Any]]:
    """Records as the legacy API returns them: legacy field names, dates as YYYYMMDD text."""
    rows = []
    for name, region, born, seq in _PEOPLE:
        first17 = f"{region}{born:%Y%m%d}{seq:03d}"
        rows.append(
            {
                "sfzh": first17 + citizen_id_check_char(first17),
                "xm": name,
                "xzqh": region,
                "djrq": "20200101",
            }
        )
    return rows


SAMPLE_CITIZEN_ID = sample_rows()[0]["sfzh"]
"""A citizen ID the fake API knows: the conformance kit's sample lookup."""


def sample_case() -> dict[str, Any]:
    """An application as the one window sends it: the conformance kit's sample intake case."""
    row = sample_rows()[1]
    return {
        "case_id": "SQ2026000001",
        "matter_code": MATTER_CODE,
        "applicant": {"kind": "person", "name": row["xm"], "citizen_id": row["sfzh"]},
        "submitted_at": "2026-01-05T09:30:00+08:00",
    }


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
