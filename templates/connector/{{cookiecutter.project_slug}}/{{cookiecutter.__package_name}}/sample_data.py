"""Sample people and a sample application, the same for every kind of legacy system.

``sample.py`` fills the sample legacy system with :func:`sample_people`; the conformance kit looks
up :data:`SAMPLE_CITIZEN_ID` and takes in :func:`sample_case`. Citizen ID numbers are valid
(GB 11643 check character), so they pass the SDK's validation.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from govconnect import citizen_id_check_char

__all__ = ["MATTER_CODE", "SAMPLE_CITIZEN_ID", "sample_case", "sample_people"]

MATTER_CODE = "{{ cookiecutter.matter_code }}"
"""Matter code (事项编码) of the applications the intake handler passes into the legacy system."""

_PEOPLE = [
    ("张伟", "110105", date(1985, 3, 12), 11),
    ("王芳", "110105", date(1990, 7, 1), 22),
    ("李娜", "110101", date(1978, 11, 30), 24),
    ("刘洋", "110108", date(2001, 2, 14), 31),
    ("陈静", "110102", date(1965, 9, 9), 46),
]


def sample_people() -> list[dict[str, Any]]:
    """The sample people with the legacy system's field names: ID number, name, region code and
    registration date (``sfzh``, ``xm``, ``xzqh``, ``djrq``)."""
    rows = []
    for name, region, born, seq in _PEOPLE:
        first17 = f"{region}{born:%Y%m%d}{seq:03d}"
        rows.append(
            {
                "sfzh": first17 + citizen_id_check_char(first17),
                "xm": name,
                "xzqh": region,
                "djrq": date(2020, 1, 1),
            }
        )
    return rows


SAMPLE_CITIZEN_ID = sample_people()[0]["sfzh"]
"""A citizen ID the sample legacy system knows: the conformance kit's sample lookup."""


def sample_case() -> dict[str, Any]:
    """An application as the one window sends it: the conformance kit's sample intake case."""
    row = sample_people()[1]
    return {
        "case_id": "SQ2026000001",
        "matter_code": MATTER_CODE,
        "applicant": {"kind": "person", "name": row["xm"], "citizen_id": row["sfzh"]},
        "submitted_at": "2026-01-05T09:30:00+08:00",
    }
