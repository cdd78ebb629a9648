"""A sample drop folder: the CSV files the legacy system writes, in its encoding (GB18030).

The conformance kit fills one in a temporary folder (:func:`sample_legacy_system`) and checks the
connector against it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from .sample_data import sample_people

__all__ = [
    "APPLICATION_COLUMNS",
    "COLUMNS",
    "ENCODING",
    "sample_legacy_system",
    "sample_rows",
    "write_drop_file",
]

COLUMNS = ("sfzh", "xm", "xzqh", "djrq")
"""Columns of a drop file, in order: ID number, name, region code, registration date (YYYYMMDD)."""

ENCODING = "gb18030"

APPLICATION_COLUMNS = ("sqbh", "sfzh", "xm", "sqsj", "ly")
"""Columns of an application file in the inbox: case number, ID number, name, time, source."""


def sample_rows() -> list[dict[str, Any]]:
    """The sample people as the legacy system writes them: dates as YYYYMMDD text."""
    return [{**person, "djrq": f"{person['djrq']:%Y%m%d}"} for person in sample_people()]


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
