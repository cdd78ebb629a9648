"""The connector: the social-assistance case system, whose only interface is a drop folder.

The system writes fixed-width GB18030 files (see :mod:`.layout`); the connector reads them as a
stream — one line at a time, file after file — and turns each line into a classified record. Two
services: the catalogued dataset of all cases (with ``since`` for incremental publishing) and a
lookup of one citizen's cases for the one-window intake. Applications for temporary assistance
arrive from the one window as intake cases and are dropped into the system's inbox folder as
fixed-width lines of the same layout; what the clerks then decide comes back the same way, in the
next drop files (``poll_status``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from govconnect import (
    CaseStatus,
    CitizenId,
    ConfigurationError,
    Connector,
    Const,
    Department,
    FileDropSink,
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
from pydantic import BaseModel, ConfigDict, Field

from .layout import (
    CATEGORIES,
    ENCODING,
    INTAKE_LAYOUT,
    LAYOUT,
    RECORD_BYTES,
    STATUSES,
    TRAILER,
)
from .sample import APPLY_MATTER, FILE_PATTERN

__all__ = [
    "APPLY_MATTER",
    "AssistanceCase",
    "CaseQuery",
    "CasesParams",
    "CivilAffairsConnector",
    "Settings",
]

log = logging.getLogger(__name__)

LEGACY_STATUS = {"2": CaseStatus.IN_PROGRESS, "3": CaseStatus.COMPLETED, "4": CaseStatus.RETURNED}
"""案件状态 codes the platform hears of; "1" (受理) is the accepted the bridge reports itself."""


class AssistanceCase(Record):
    """A social-assistance case as other departments receive it: typed, classified, English."""

    case_no: str = field("案件编号", level=Level.INTERNAL, max_length=16)
    citizen_id: CitizenId = field(
        "公民身份号码", level=Level.SENSITIVE, personal=True, element="公民身份号码"
    )
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, max_length=20, element="姓名")
    gender: str = field(
        "性别代码",
        level=Level.INTERNAL,
        personal=True,
        max_length=1,
        element="性别",
        code_table="gender",
    )
    region_code: str = field("行政区划代码", level=Level.PUBLIC, max_length=6)
    category: str = field("救助类别", level=Level.INTERNAL, personal=True, max_length=10)
    household_size: int = field("家庭人口数", level=Level.INTERNAL, personal=True, ge=1)
    monthly_amount: Decimal = field(
        "月救助金额(元)",
        level=Level.SENSITIVE,
        personal=True,
        data_type="Y",
        max_digits=9,
        decimal_places=2,
    )
    status: str = field("案件状态", level=Level.INTERNAL, max_length=4)
    accepted_on: date = field("受理日期", level=Level.INTERNAL)
    address: str = field(
        "住址", level=Level.SENSITIVE, personal=True, max_length=60, element="住址"
    )
    updated_at: datetime = field("更新时间", level=Level.INTERNAL)


class CaseQuery(BaseModel):
    """The lookup's parameters: one citizen ID number, validated before any file is read."""

    model_config = ConfigDict(extra="forbid")

    citizen_id: CitizenId = Field(description="公民身份号码 of the applicant")


class CasesParams(BaseModel):
    """The dataset's parameters: only cases updated after ``since`` (incremental publishing)."""

    model_config = ConfigDict(extra="forbid")

    since: datetime | None = Field(default=None, description="only cases updated after this time")


class Settings(BaseModel):
    """``[connectors.civil_affairs]`` in govconnect.toml or ``GOVCONNECT_CIVIL_AFFAIRS_DROP_DIR``."""

    model_config = ConfigDict(extra="forbid")

    drop_dir: Path = Field(
        default=Path(".govconnect/civil-affairs-drop"),
        description="folder the case system writes its files into",
    )
    pattern: str = Field(default=FILE_PATTERN, description="which files of the folder are data")
    inbox_dir: Path = Field(
        default=Path(".govconnect/civil-affairs-inbox"),
        description="folder the case system takes new applications from",
    )


class CivilAffairsConnector(Connector):
    """社会救助案件管理系统 of a district civil-affairs bureau, reached through its drop folder."""

    name = "civil_affairs"
    title = "社会救助案件管理系统 (social-assistance cases)"
    department = Department(
        code="11010500MZ",
        name="北京市朝阳区民政局",
    )
    system = LegacySystem(
        code="SHJZ",
        name="社会救助案件管理系统",
    )
    Settings = Settings

    @dataset(
        code="311105001/0001",
        name="社会救助案件信息",
        abstract="本区最低生活保障、特困人员供养、临时救助和医疗救助案件，每日由案件系统落地文件更新。",
        sharing="conditional",
        conditions="经民政部门审批同意，仅用于救助对象核对和政务服务事项办理",
        update_cycle="daily",
        published="2026-01-15",
        sharing_method="platform_file",
        format="electronic_file",
        format_detail="定长文本文件 (GB18030)",
        key="case_no",
        replication_key="updated_at",
        related=["311105001/0002"],
    )
    def cases(self, params: CasesParams) -> Iterator[AssistanceCase | dict[str, Any]]:
        """Every case, as field values for the SDK to validate: a dirty line becomes a reject in
        the publisher's rejects file (named by file and line) instead of stopping the dataset."""
        for where, values in self._lines():
            if values is None:
                yield {"case_no": where}
                continue
            record = self._fields(values)
            updated = record["updated_at"]
            if params.since is None or not isinstance(updated, datetime) or updated > params.since:
                yield record

    @query(
        code="311105001/0002",
        name="社会救助案件查询",
        abstract="按公民身份号码查询本人的社会救助案件及其办理状态。",
        sharing="conditional",
        conditions="仅限依法办理政务服务事项时，凭办件编号查询本人信息",
        update_cycle="daily",
        published="2026-01-15",
        related=["311105001/0001"],
    )
    def assistance(self, params: CaseQuery) -> Iterator[AssistanceCase | dict[str, Any]]:
        for _where, values in self._lines():
            if values is not None and values["SFZH"] == params.citizen_id:
                yield self._fields(values)

    @intake(
        matter_code=APPLY_MATTER,
        name="临时救助申请",
        target=INTAKE_LAYOUT,
        target_name="救助申请定长记录",
        mapping={
            "LX": Const("D"),
            "AJBH": From("case_id"),
            "SFZH": From("applicant.citizen_id"),
            "XM": From("applicant.name"),
            "XB": From("form.gender").code("gender"),
            "XZQH": From("form.region_code"),
            "JZLB": From("form.category").default("临时救助").code("assistance_category"),
            "JTRK": From("form.household_size"),
            "JZJE": From("form.amount").transform("yuan_to_fen"),
            "AJZT": Const("1"),
            "SLRQ": From("submitted_at").date("%Y%m%d"),
            "ZZ": From("form.address"),
            "GXSJ": From("submitted_at").date("%Y%m%d%H%M%S"),
        },
    )
    def apply(self) -> FileDropSink:
        """One fixed-width GB18030 file per application in the inbox, committed by its manifest."""
        return FileDropSink(
            self.settings.inbox_dir,
            format="fixed",
            encoding=ENCODING,
            layout=INTAKE_LAYOUT,
            prefix="MZSQ_",
        )

    def poll_status(self, since: datetime | None) -> Iterator[StatusUpdate]:
        """What the drop files say about cases since ``since``: 审核中 (in progress), 已批准
        (completed, with the category and monthly amount granted) or 已终止 (returned).

        The system has no other voice: the application dropped in its inbox reappears in its
        nightly files under the same case number (AJBH, the one window's case id), with the
        clerks' decision. The files hold every case; the intake bridge reports only those it
        wrote. A line whose update time does not parse is skipped (the dataset rejects it).
        """
        for _where, values in self._lines():
            status = LEGACY_STATUS.get(values["AJZT"]) if values is not None else None
            if values is None or status is None:
                continue
            updated = _convert(lambda v: datetime.strptime(v, "%Y%m%d%H%M%S"), values["GXSJ"])
            if not isinstance(updated, datetime) or (since is not None and updated <= since):
                continue
            result: dict[str, Any] = {}
            if status is CaseStatus.COMPLETED:
                amount = _convert(lambda v: Decimal(int(v)) / 100, values["JZJE"])
                result = {"category": CATEGORIES.get(values["JZLB"], values["JZLB"])}
                if isinstance(amount, Decimal):
                    result["monthly_amount"] = f"{amount:.2f}"
            yield StatusUpdate(
                case_id=values["AJBH"],
                status=status,
                result=result,
                reasons=["救助申请已终止"] if status is CaseStatus.RETURNED else [],
                at=updated,
            )

    def _lines(self) -> Iterator[tuple[str, dict[str, str] | None]]:
        """``(file:line, legacy values)`` of every complete drop file, oldest first, streamed;
        ``None`` for a line that is not a well-formed data line.

        A file whose trailer miscounts its lines (truncated, or appended to) is refused before
        any of its lines is yielded (govconnect's ``FixedWidthLayout.read``): nothing of a file
        that may be damaged is published or reported, and the files before it stand."""
        folder = self.settings.drop_dir
        if not folder.is_dir():
            raise ConfigurationError(f"drop folder {str(folder)!r} does not exist")
        for path in sorted(folder.glob(self.settings.pattern)):
            if TRAILER.announced(path, RECORD_BYTES) is None:
                log.info("skipping %s: no trailer yet (still being written)", path.name)
                continue
            yield from LAYOUT.read(path, ENCODING, trailer=TRAILER, record_type="D")

    @staticmethod
    def _fields(values: dict[str, str]) -> dict[str, Any]:
        """Record fields from legacy values; a value that does not convert is passed on as text,
        so validation rejects the record naming that field."""
        return {
            "case_no": values["AJBH"],
            "citizen_id": values["SFZH"],
            "name": values["XM"],
            "gender": values["XB"],
            "region_code": values["XZQH"],
            "category": CATEGORIES.get(values["JZLB"], values["JZLB"]),
            "household_size": _convert(int, values["JTRK"]),
            "monthly_amount": _convert(lambda v: Decimal(int(v)) / 100, values["JZJE"]),
            "status": STATUSES.get(values["AJZT"], values["AJZT"]),
            "accepted_on": _convert(
                lambda v: datetime.strptime(v, "%Y%m%d").date(), values["SLRQ"]
            ),
            "address": values["ZZ"],
            "updated_at": _convert(lambda v: datetime.strptime(v, "%Y%m%d%H%M%S"), values["GXSJ"]),
        }


def _convert(fn: Any, text: str) -> Any:
    """``fn(text)``, or a marker no number or date parser accepts (a bare digit string could pass
    as a Unix timestamp), so the record is rejected naming the field."""
    try:
        return fn(text)
    except (ValueError, ArithmeticError):
        return f"unreadable {text!r}"
