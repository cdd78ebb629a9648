"""The legacy household-registration table, as the vendor built it in 2009 (pinyin column names)."""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["resident_table"]


def resident_table(metadata: sa.MetaData, name: str = "hj_resident") -> sa.Table:
    """户籍人口表. Column names are the pinyin initials the legacy system uses."""
    return sa.Table(
        name,
        metadata,
        sa.Column("gmsfhm", sa.String(18), primary_key=True, comment="公民身份号码"),
        sa.Column("xm", sa.String(50), nullable=False, comment="姓名"),
        sa.Column("xb", sa.String(1), nullable=False, comment="性别代码 GB/T 2261.1"),
        sa.Column("mz", sa.String(2), nullable=False, comment="民族代码 GB/T 3304"),
        sa.Column("csrq", sa.Date, nullable=False, comment="出生日期"),
        sa.Column("hh", sa.String(9), nullable=False, index=True, comment="户号"),
        sa.Column("yhzgx", sa.String(10), nullable=False, comment="与户主关系"),
        sa.Column("hjdz", sa.String(200), nullable=False, comment="户籍地址"),
        sa.Column("xzqh", sa.String(6), nullable=False, comment="行政区划代码"),
        sa.Column("lxdh", sa.String(20), nullable=True, comment="联系电话"),
        sa.Column("zt", sa.String(1), nullable=False, comment="状态 1正常 2迁出 3死亡"),
        sa.Column("djrq", sa.Date, nullable=False, comment="登记日期"),
        sa.Column("gxsj", sa.DateTime, nullable=False, index=True, comment="更新时间"),
    )
