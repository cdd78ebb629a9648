"""Services of the household-registration system: a resident lookup and the resident dataset."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy.engine import make_url

from govconnect import (
    CaseStatus,
    CitizenId,
    Compute,
    Concat,
    ConfigurationError,
    Connector,
    Const,
    DatabaseSink,
    Department,
    From,
    LegacySystem,
    Level,
    Record,
    StatusUpdate,
    dataset,
    field,
    intake,
    query,
)

from .sample import DISTRICTS
from .schema import application_table, resident_table

__all__ = [
    "DistrictPopulation",
    "HouseholdConnector",
    "Resident",
    "ResidentDatasetParams",
    "ResidentQuery",
]

STATUS = {"1": "正常", "2": "迁出", "3": "死亡"}
LEGACY_COLUMNS = (
    "gmsfhm",
    "xm",
    "xb",
    "mz",
    "csrq",
    "hh",
    "yhzgx",
    "hjdz",
    "xzqh",
    "lxdh",
    "zt",
    "djrq",
    "gxsj",
)
RECORD_COLUMNS = (
    "citizen_id",
    "name",
    "gender",
    "ethnicity",
    "birth_date",
    "household_no",
    "relation",
    "address",
    "region_code",
    "phone",
    "status",
    "registered_on",
    "updated_at",
)
"""Legacy column → record field, in the order both are read."""
MOVE_IN_MATTER = "11010500000-HJ-0001"
"""事项编码 of 户口迁入登记 (household move-in registration) at the one window."""
LEGACY_STATUS = {"1": CaseStatus.IN_PROGRESS, "2": CaseStatus.COMPLETED, "3": CaseStatus.RETURNED}


def _household_register_licence(case: Any) -> str | None:
    """The electronic household register (户口簿) the applicant referenced instead of a scan."""
    for material in case.materials:
        if material.kind == "licence" and material.licence_type == "HKB":
            return str(material.licence_no)
    return None


class Resident(Record):
    """A registered resident, as other departments may receive it (English names, typed values)."""

    citizen_id: CitizenId = field(
        "公民身份号码", level=Level.SENSITIVE, personal=True, element="公民身份号码"
    )
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, max_length=50, element="姓名")
    gender: str = field(
        "性别代码",
        level=Level.INTERNAL,
        personal=True,
        max_length=1,
        element="性别",
        code_table="gender",
    )
    ethnicity: str = field("民族代码", level=Level.SENSITIVE, personal=True, max_length=2)
    birth_date: date = field("出生日期", level=Level.SENSITIVE, personal=True, element="出生日期")
    household_no: str = field("户号", level=Level.INTERNAL, max_length=9)
    relation: str = field("与户主关系", level=Level.INTERNAL, personal=True, max_length=10)
    address: str = field(
        "户籍地址", level=Level.SENSITIVE, personal=True, max_length=200, element="住址"
    )
    region_code: str = field("行政区划代码", level=Level.PUBLIC, max_length=6)
    phone: str | None = field(
        "联系电话", level=Level.SENSITIVE, personal=True, default=None, max_length=20
    )
    status: str = field("户籍状态", level=Level.INTERNAL, max_length=4)
    registered_on: date = field("登记日期", level=Level.INTERNAL)
    updated_at: datetime = field("更新时间", level=Level.INTERNAL)


class DistrictPopulation(Record):
    """Registered population of one district: public statistics, no personal information."""

    region_code: str = field("行政区划代码", level=Level.PUBLIC, max_length=6)
    region_name: str = field("行政区划名称", level=Level.PUBLIC, max_length=50)
    households: int = field("户数", level=Level.PUBLIC)
    residents: int = field("户籍人口数", level=Level.PUBLIC)
    male: int = field("男性人口数", level=Level.PUBLIC)
    female: int = field("女性人口数", level=Level.PUBLIC)


class ResidentQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    citizen_id: CitizenId = Field(description="公民身份号码 of the resident to look up")


class ResidentDatasetParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(
        default=None, description="only residents updated after this time (incremental publishing)"
    )
    key_from: str | None = Field(
        default=None, description="parallel publishing: residents whose ID is >= this"
    )
    key_to: str | None = Field(
        default=None, description="parallel publishing: residents whose ID is < this"
    )


class HouseholdSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        default="sqlite:///.govconnect/household.sqlite", description="SQLAlchemy database URL"
    )
    table: str = Field(default="hj_resident", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    applications_table: str = Field(default="hj_qrsq", pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    chunk_size: int = Field(default=2000, ge=1, le=100_000)
    password: SecretStr | None = Field(
        default=None,
        description="database password, kept out of the URL (set GOVCONNECT_HOUSEHOLD_PASSWORD)",
    )


def _engine_url(settings: HouseholdSettings) -> sa.URL:
    """The database URL with the secret password put in; a SQLite file that does not exist is
    refused rather than created empty (an empty file would only fail later, less clearly)."""
    url = make_url(settings.url)
    if settings.password is not None:
        url = url.set(password=settings.password.get_secret_value())
    database = url.database or ""
    if (
        url.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")
        and not Path(database).exists()
    ):
        raise ConfigurationError(
            f"household database file {database!r} does not exist: create it with "
            "`govconnect household seed --url …`, or point GOVCONNECT_HOUSEHOLD_URL at the database"
        )
    return url


class HouseholdConnector(Connector):
    """户籍管理系统 of a district public-security bureau, reached through its SQL database."""

    name = "household"
    title = "户籍管理系统 (household registration)"
    department = Department(code="11010500000", name="北京市朝阳区公安分局")
    system = LegacySystem(code="HJGL", name="户籍管理系统")
    Settings = HouseholdSettings

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        # parameters carry citizen IDs: keep them out of error messages and logs
        self.engine = sa.create_engine(_engine_url(self.settings), hide_parameters=True)
        metadata = sa.MetaData()
        self.table = resident_table(metadata, self.settings.table)
        self.applications = application_table(metadata, self.settings.applications_table)

    def close(self) -> None:
        self.engine.dispose()

    @query(
        code="111112001/0001",
        name="居民户籍信息查询",
        abstract="按公民身份号码查询居民的户籍登记信息，用于办件中的身份与户籍核验。",
        sharing="conditional",
        conditions="仅限依法办理政务服务事项时，凭办件编号查询本人信息",
        update_cycle="real_time",
        published="2026-01-15",
        related=["111112001/0002"],
    )
    def resident(self, params: ResidentQuery) -> Iterator[Resident | dict[str, Any]]:
        stmt = sa.select(self.table).where(self.table.c.gmsfhm == str(params.citizen_id))
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                yield self._record(row._mapping)

    @dataset(
        code="111112001/0002",
        name="居民户籍信息",
        abstract="本区登记的全部居民户籍信息，每日更新，供有权部门批量比对。",
        sharing="conditional",
        conditions="经户籍主管部门审批同意，仅用于人口信息比对核验",
        update_cycle="daily",
        published="2026-01-15",
        key="citizen_id",
        replication_key="updated_at",
        count="count_residents",
        split="resident_id_quantiles",  # publish --workers N: ranges of citizen IDs
        authoritative=["姓名", "性别", "出生日期", "住址"],  # 一数一源: the household register
    )
    def residents(self, params: ResidentDatasetParams) -> Iterator[Resident | dict[str, Any]]:
        t = self.table
        stmt = sa.select(*self._columns()).order_by(t.c.gxsj, t.c.gmsfhm)
        if params.since is not None:
            stmt = stmt.where(t.c.gxsj > params.since)
        if params.key_from is not None:
            stmt = stmt.where(t.c.gmsfhm >= params.key_from)
        if params.key_to is not None:
            stmt = stmt.where(t.c.gmsfhm < params.key_to)
        names, status = RECORD_COLUMNS, STATUS
        with self.engine.connect() as conn:
            result = conn.execution_options(
                stream_results=True, yield_per=self.settings.chunk_size
            ).execute(stmt)
            for row in result:
                record = dict(zip(names, row, strict=True))
                record["status"] = status.get(record["status"], record["status"])
                yield record

    def _columns(self) -> list[sa.ColumnElement[Any]]:
        return [self.table.c[legacy] for legacy in LEGACY_COLUMNS]

    @dataset(
        code="111112001/0003",
        name="分区户籍人口统计",
        abstract="按行政区划统计的户籍人口数、户数和性别构成，每月更新，向社会开放。",
        sharing="unconditional",
        update_cycle="monthly",
        published="2026-01-15",
        open_to_public=True,
        key="region_code",
        related=["111112001/0002"],
    )
    def population(self) -> Iterator[DistrictPopulation]:
        t = self.table
        stmt = (
            sa.select(
                t.c.xzqh,
                sa.func.count(sa.distinct(t.c.hh)),
                sa.func.count(),
                sa.func.sum(sa.case((t.c.xb == "1", 1), else_=0)),
                sa.func.sum(sa.case((t.c.xb == "2", 1), else_=0)),
            )
            .where(t.c.zt == "1")
            .group_by(t.c.xzqh)
            .order_by(t.c.xzqh)
        )
        with self.engine.connect() as conn:
            for region, households, residents, male, female in conn.execute(stmt):
                yield DistrictPopulation(
                    region_code=region,
                    region_name=DISTRICTS.get(region, region),
                    households=households,
                    residents=residents,
                    male=int(male or 0),
                    female=int(female or 0),
                )

    @intake(
        matter_code=MOVE_IN_MATTER,
        name="户口迁入登记",
        target=application_table(sa.MetaData()),
        mapping={
            "sqbh": From("case_id"),
            "sxbm": From("matter_code"),
            "xm": From("applicant.name"),
            "gmsfhm": From("applicant.citizen_id"),
            "xb": From("form.gender").code("gender"),
            "mz": From("form.ethnicity").default("汉族").code("ethnicity"),
            "csrq": From("form.birth_date").date("%Y%m%d"),
            "qcd": Concat(From("form.from_province"), From("form.from_address")),
            "qrd": From("form.to_address"),
            "qyyy": From("form.reason", required=False).default("投靠亲属"),
            "lxdh": From("applicant.phone", required=False),
            "clzs": Compute(lambda case: len(case.materials)),
            "zzhm": Compute(_household_register_licence),
            "sqsj": From("submitted_at"),
            "ly": Const("一窗受理"),
            "clzt": Const("0"),
            "gxsj": Compute(lambda case: datetime.now()),
        },
    )
    def move_in(self) -> DatabaseSink:
        """Move-in applications go straight into the legacy application table."""
        return DatabaseSink(self.engine, self.applications, key="sqbh")

    def poll_status(self, since: datetime | None) -> Iterator[StatusUpdate]:
        """Applications the clerks have taken up, completed (with the permit number) or returned."""
        t = self.applications
        stmt = sa.select(t.c.sqbh, t.c.clzt, t.c.zqzbh, t.c.clyj, t.c.gxsj).where(
            t.c.clzt.in_(list(LEGACY_STATUS))
        )
        if since is not None:
            stmt = stmt.where(t.c.gxsj > since)
        with self.engine.connect() as conn:
            for case_id, state, permit, opinion, updated in conn.execute(stmt.order_by(t.c.gxsj)):
                status = LEGACY_STATUS[state]
                yield StatusUpdate(
                    case_id=case_id,
                    status=status,
                    result={"permit_no": permit} if permit else {},
                    reasons=[opinion] if status is CaseStatus.RETURNED and opinion else [],
                    at=updated,
                )

    def resident_id_quantiles(self, parts: int) -> list[str]:
        """``parts - 1`` citizen IDs cutting the table into ranges of about equal size, one
        index probe each. IDs are digits and ``X``, which common collations order as Python does;
        a key that sorts otherwise fails its range, safely (docs/publishing.md)."""
        t = self.table
        total = self.count_residents()
        probe = sa.select(t.c.gmsfhm).order_by(t.c.gmsfhm).limit(1)
        with self.engine.connect() as conn:
            cuts = (
                conn.execute(probe.offset(total * i // parts)).scalar() for i in range(1, parts)
            )
            return [cut for cut in cuts if cut is not None]

    def count_residents(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()

    @staticmethod
    def _record(row: Any) -> dict[str, Any]:
        """Legacy row → record fields, unvalidated: the SDK validates (and rejects bad rows)."""
        record = {
            name: row[legacy] for name, legacy in zip(RECORD_COLUMNS, LEGACY_COLUMNS, strict=True)
        }
        record["status"] = STATUS.get(record["status"], record["status"])
        return record
