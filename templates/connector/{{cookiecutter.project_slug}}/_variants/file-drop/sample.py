"""A sample drop folder: the CSV files the legacy system writes, in its encoding (GB18030).

The conformance kit fills one in a temporary folder (:func:`sample_legacy_system`) and checks the
connector against it. Citizen ID numbers are valid (GB 11643 check character).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

from govconnect import citizen_id_check_char

__all__ = [
    "APPLICATION_COLUMNS",
    "COLUMNS",
    "ENCODING",
    "MATTER_CODE",
    "SAMPLE_CITIZEN_ID",
    "sample_case",
    "sample_legacy_system",
    "sample_rows",
    "write_drop_file",
]

COLUMNS = ("sfzh", "xm", "xzqh", "djrq")
"""Columns of a drop file, in order: ID number, name, region code, registration date (YYYYMMDD)."""

ENCODING = "gb18030"

APPLICATION_COLUMNS = ("sqbh", "sfzh", "xm", "sqsj", "ly")
"""Columns of an application file in the inbox: case number, ID number, name, time, source."""

MATTER_CODE = "{{ cookiecutter.matter_code }}"
"""Matter code (事项编码) of the applications the intake handler drops into the inbox."""

_PEOPLE = [
    ("张伟", "110105", date(1985, 3, 12), 11),
    ("王芳", "110105", date(1990, 7, 1), 22),
    ("李娜", "110101", date(1978, 11, 30), 24),
    ("刘洋", "110108", date(2001, 2, 14), 31),
    ("陈静", "110102", date(1965, 9, 9), 46),
]


def sample_rows() -> list[dict[str, Any]]:
    """Rows as the legacy system writes them: legacy column names, dates as YYYYMMDD text."""
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
"""A citizen ID the sample files contain: the conformance kit's sample lookup."""


def sample_case() -> dict[str, Any]:
    """An application as the one window sends it: the conformance kit's sample intake case."""
    row = sample_rows()[1]
    return {
        "case_id": "SQ2026000001",
        "matter_code": MATTER_CODE,
        "applicant": {"kind": "person", "name": row["xm"], "citizen_id": row["sfzh"]},
        "submitted_at": "2026-01-05T09:30:00+08:00",
    }


def write_drop_file(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write one drop file the way the legacy system does (header row, GB18030, CRLF)."""
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", encoding=ENCODING, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def sample_legacy_system(folder: Path) -> dict[str, str]:
    """A sample drop folder in ``folder`` (two files) and an empty inbox beside it; returns the
    connector settings for them."""
    drop = folder / "drop"
    drop.mkdir(parents=True, exist_ok=True)
    rows = sample_rows()
    write_drop_file(drop / "ry_20260101.csv", rows[:3])
    write_drop_file(drop / "ry_20260102.csv", rows[3:])
    return {"drop_dir": str(drop), "inbox_dir": str(folder / "inbox")}
