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
    "SAMPLE_BASE_URL",
    "SAMPLE_CITIZEN_ID",
    "register_sample_answers",
    "sample_legacy_system",
    "sample_rows",
]

SAMPLE_BASE_URL = "http://legacy.example/api"
"""Where the fake legacy API answers (``.example`` is reserved: it never reaches a real host)."""

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


def register_sample_answers(mock: responses.RequestsMock, base_url: str = SAMPLE_BASE_URL) -> None:
    """Make ``mock`` answer ``GET {base_url}/people/{id}`` like the legacy system would."""
    people = {row["sfzh"]: row for row in sample_rows()}

    def person(request: Any) -> tuple[int, dict[str, str], str]:
        citizen_id = request.url.rstrip("/").rsplit("/", 1)[-1]
        row = people.get(citizen_id)
        if row is None:
            return 404, {}, json.dumps({"error": "not found"})
        return 200, {"Content-Type": "application/json"}, json.dumps(row, ensure_ascii=False)

    mock.add_callback("GET", re.compile(re.escape(base_url) + r"/people/[^/]+$"), callback=person)


def sample_legacy_system(folder: Path) -> Iterator[dict[str, str]]:
    """The fake legacy API, active while the conformance checks run; yields connector settings."""
    from govconnect.testing import fake_legacy_http

    with fake_legacy_http() as mock:
        register_sample_answers(mock)
        yield {"base_url": SAMPLE_BASE_URL}
