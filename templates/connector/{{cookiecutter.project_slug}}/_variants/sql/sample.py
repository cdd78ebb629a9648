"""A small sample of the legacy database: the people table as the legacy system keeps it.

The conformance kit builds it in a temporary folder (:func:`sample_legacy_system`) and checks the
connector against it; developers use :func:`create_sample_database` to try the connector locally.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from .sample_data import sample_people

__all__ = [
    "application_table",
    "create_sample_database",
    "legacy_table",
    "sample_legacy_system",
]


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
            rows = sample_people()
            conn.execute(table.insert(), rows)
        return len(rows)
    finally:
        engine.dispose()


def sample_legacy_system(folder: Path) -> dict[str, str]:
    """A sample legacy database in ``folder``; returns the connector settings that reach it."""
    url = f"sqlite:///{folder / 'legacy.sqlite'}"
    create_sample_database(url)
    return {"url": url}
