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


def application_table(metadata: sa.MetaData, name: str = "hj_qrsq") -> sa.Table:
    """户口迁入申请表: where clerks used to re-type move-in applications from the one window.

    ``clzt`` is the legacy processing state (0 待处理, 1 办理中, 2 办结, 3 退回); ``zqzbh`` the
    move-in permit number (准迁证编号) issued on completion; ``gxsj`` changes with every update.
    """
    return sa.Table(
        name,
        metadata,
        sa.Column("sqbh", sa.String(64), primary_key=True, comment="申请编号 (办件编号)"),
        sa.Column("sxbm", sa.String(64), nullable=False, comment="事项编码"),
        sa.Column("xm", sa.String(50), nullable=False, comment="姓名"),
        sa.Column("gmsfhm", sa.String(18), nullable=False, index=True, comment="公民身份号码"),
        sa.Column("xb", sa.String(1), nullable=False, comment="性别代码"),
        sa.Column("mz", sa.String(2), nullable=False, comment="民族代码"),
        sa.Column("csrq", sa.String(8), nullable=False, comment="出生日期 YYYYMMDD"),
        sa.Column("qcd", sa.String(200), nullable=False, comment="迁出地"),
        sa.Column("qrd", sa.String(200), nullable=False, comment="迁入地"),
        sa.Column("qyyy", sa.String(50), nullable=False, comment="迁移原因"),
        sa.Column("lxdh", sa.String(20), nullable=True, comment="联系电话"),
        sa.Column("clzs", sa.Integer, nullable=False, comment="材料份数"),
        sa.Column("zzhm", sa.String(64), nullable=True, comment="电子证照编号 (户口簿)"),
        sa.Column("sqsj", sa.DateTime, nullable=False, comment="申请时间"),
        sa.Column("ly", sa.String(20), nullable=False, comment="来源"),
        sa.Column("clzt", sa.String(1), nullable=False, comment="处理状态"),
        sa.Column("zqzbh", sa.String(32), nullable=True, comment="准迁证编号"),
        sa.Column("clyj", sa.String(200), nullable=True, comment="处理意见"),
        sa.Column("gxsj", sa.DateTime, nullable=False, index=True, comment="更新时间"),
    )
