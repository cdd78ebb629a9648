"""A small sample of the legacy database: the people table as the legacy system keeps it.

The conformance kit builds it in a temporary folder (:func:`sample_legacy_system`) and checks the
connector against it; developers use :func:`create_sample_database` to try the connector locally.
Citizen ID numbers are valid (GB 11643 check character), so they pass the SDK's validation.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from govconnect import citizen_id_check_char

__all__ = [
    "MATTER_CODE",
    "SAMPLE_CITIZEN_ID",
    "application_table",
    "create_sample_database",
    "legacy_table",
    "sample_case",
    "sample_legacy_system",
    "sample_rows",
]

MATTER_CODE = "{{ cookiecutter.matter_code }}"
"""Matter code (事项编码) of the applications the intake handler writes into the legacy system."""

_PEOPLE = [
    ("张伟", "110105", date(1985, 3, 12), 11),
    ("王芳", "110105", date(1990, 7, 1), 22),
    ("李娜", "110101", date(1978, 11, 30), 24),
    ("刘洋", "110108", date(2001, 2, 14), 31),
    ("陈静", "110102", date(1965, 9, 9), 46),
]


def sample_rows() -> list[dict[str, Any]]:
    """Rows of the legacy table, with the legacy system's column names."""
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


SAMPLE_CITIZEN_ID = sample_rows()[0]["sfzh"]
"""A citizen ID the sample database knows: the conformance kit's sample lookup."""


def legacy_table(metadata: sa.MetaData) -> sa.Table:
    """The legacy people table (pinyin column names, as legacy systems often have)."""
    return sa.Table(
        "ry_jbxx",
        metadata,
        sa.Column("sfzh", sa.String(18), primary_key=True, comment="公民身份号码"),
        sa.Column("xm", sa.String(50), nullable=False, comment="姓名"),
        sa.Column("xzqh", sa.String(6), nullable=False, comment="行政区划代码"),
        sa.Column("djrq", sa.Date, nullable=False, comment="登记日期"),
    )


def application_table(metadata: sa.MetaData) -> sa.Table:
    """The legacy application table: where clerks used to re-type applications by hand."""
    return sa.Table(
        "ry_sq",
        metadata,
        sa.Column("sqbh", sa.String(64), primary_key=True, comment="申请编号 (办件编号)"),
        sa.Column("sfzh", sa.String(18), nullable=False, comment="公民身份号码"),
        sa.Column("xm", sa.String(50), nullable=False, comment="姓名"),
        sa.Column("sqsj", sa.String(14), nullable=False, comment="申请时间 YYYYMMDDHHMMSS"),
        sa.Column("ly", sa.String(20), nullable=False, comment="来源"),
    )


def sample_case() -> dict[str, Any]:
    """An application as the one window sends it: the conformance kit's sample intake case."""
    row = sample_rows()[1]
    return {
        "case_id": "SQ2026000001",
        "matter_code": MATTER_CODE,
        "applicant": {"kind": "person", "name": row["xm"], "citizen_id": row["sfzh"]},
        "submitted_at": "2026-01-05T09:30:00+08:00",
    }


def create_sample_database(url: str) -> int:
    """Create the legacy tables at ``url`` (dropping old ones) and fill the people table; the
    application table starts empty (intake fills it). Returns the rows written."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    table = legacy_table(metadata)
    application_table(metadata)  # created with the people table, filled by intake
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
            rows = sample_rows()
            conn.execute(table.insert(), rows)
        return len(rows)
    finally:
        engine.dispose()


def sample_legacy_system(folder: Path) -> dict[str, str]:
    """A sample legacy database in ``folder``; returns the connector settings that reach it."""
    url = f"sqlite:///{folder / 'legacy.sqlite'}"
    create_sample_database(url)
    return {"url": url}
