"""A legacy household WebService for the SOAP tests: its WSDL, sample people, answers, a connector."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from govconnect import (
    CitizenId,
    Connector,
    Department,
    From,
    LegacySystem,
    Level,
    NoParams,
    Record,
    citizen_id_check_char,
    dataset,
    field,
    hookimpl,
    intake,
    query,
)
from govconnect.soap import Pages, SoapClient, SoapSecurity, SoapSink, soap_input
from govconnect.testing import FakeFault

WSDL = Path(__file__).with_name("data") / "hjxt.wsdl"
MATTER = "11010500000-HJ-0009"


PEOPLE: list[dict[str, Any]] = [
    {
        "sfzh": "11010519491231002X",
        "xm": "张三",
        "csrq": date(1949, 12, 31),
        "rks": 3,
        "zz": {"sheng": "北京市", "xxdz": "朝阳区幸福路1号"},
        "dh": ["13800138000", "010-65001234"],
    },
    *(
        {
            "sfzh": (f17 := f"110105199001{1 + n % 28:02d}{n:03d}") + citizen_id_check_char(f17),
            "xm": f"居民{n}",
            "csrq": date(1990, 1, 1 + n % 28),
        }
        for n in range(1, 26)
    ),
]
APPLICATIONS: dict[str, dict[str, Any]] = {}


def query_person(request: dict[str, Any]) -> dict[str, Any]:
    if len(request.get("sfzh", "")) != 18:
        raise FakeFault("soap:Client", "公民身份号码格式错误", detail="sfzh")
    return {"person": [p for p in PEOPLE if p["sfzh"] == request["sfzh"]]}


def list_persons(request: dict[str, Any]) -> dict[str, Any]:
    page, size = int(request["pageNo"]), int(request["pageSize"])
    rows = PEOPLE[(page - 1) * size : page * size]
    return {"total": len(PEOPLE), "persons": {"person": rows}}


def submit_application(request: dict[str, Any]) -> dict[str, Any]:
    if request["sqsx"] not in ("户口迁入",):
        raise FakeFault("soap:Client", f"不受理的事项: {request['sqsx']}")
    key = request["sqbh"]
    duplicate = key in APPLICATIONS
    APPLICATIONS.setdefault(key, request)
    return {"slbh": f"SL-{list(APPLICATIONS).index(key) + 1:05d}", "duplicate": duplicate}


ANSWERS = {
    "QueryPerson": query_person,
    "ListPersons": list_persons,
    "SubmitApplication": submit_application,
}


class Address(BaseModel):
    sheng: str
    xxdz: str | None = None


class Resident(Record):
    citizen_id: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
    name: str = field("姓名", level=Level.SENSITIVE, personal=True)
    birth_date: date = field("出生日期", level=Level.SENSITIVE, personal=True)
    household_size: int | None = field("户内人口数", level=Level.INTERNAL, default=None)
    province: str | None = field("住址省份", level=Level.INTERNAL, default=None)
    phones: list[str] = field("联系电话", level=Level.SENSITIVE, personal=True, default=[])


RESIDENT_FIELDS = {
    "citizen_id": "sfzh",
    "name": "xm",
    "birth_date": "csrq",
    "household_size": "rks",
    "province": "zz.sheng",
    "phones": "dh",
}


class ResidentQuery(BaseModel):
    citizen_id: CitizenId


class SoapSettings(BaseModel):
    wsdl: str = str(WSDL)
    endpoint: str | None = None
    username: str | None = None
    password: SecretStr | None = None


class Hjxt(Connector):
    """The household WebService as a vendor declares it: a lookup, a dataset, an intake handler."""

    name = "hjxt"
    department = Department(code="11010500000", name="北京市朝阳区公安分局")
    system = LegacySystem(code="HJXT", name="户籍管理WebService")
    Settings = SoapSettings

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        s = self.settings
        self.soap = SoapClient(
            s.wsdl,
            endpoint=s.endpoint,
            security=SoapSecurity(s.username, s.password),
            timeout=5,
        )

    @query(
        code="111112001/0101",
        name="居民信息查询(WebService)",
        abstract="按公民身份号码查询户籍WebService",
        sharing="conditional",
        conditions="凭办件编号查询本人信息",
        update_cycle="real_time",
        published="2026-01-15",
    )
    def resident(self, params: ResidentQuery) -> Iterator[Resident]:
        return self.soap.records(
            "QueryPerson",
            params,
            Resident,
            rename={"citizen_id": "sfzh"},
            items="person",
            fields=RESIDENT_FIELDS,
        )

    @dataset(
        code="111112001/0102",
        name="居民信息(WebService)",
        abstract="户籍WebService的全部居民",
        sharing="conditional",
        conditions="仅限政务用途",
        update_cycle="daily",
        published="2026-01-15",
        key="citizen_id",
    )
    def residents(self, params: NoParams) -> Iterator[Resident]:
        return self.soap.records(
            "ListPersons",
            None,
            Resident,
            items="persons.person",
            fields=RESIDENT_FIELDS,
            paging=Pages(per_page=10, total="total"),
        )

    @intake(
        matter_code=MATTER,
        name="户口迁入登记(WebService)",
        target=soap_input(WSDL, "SubmitApplication"),
        mapping={
            "sqbh": From("case_id"),
            "sqr.sfzh": From("applicant.citizen_id"),
            "sqr.xm": From("applicant.name"),
            "sqr.csrq": From("form.birth_date"),
            "sqr.zz.sheng": From("form.province", required=False),
            "sqsx": From("matter_name"),
        },
    )
    def move_in(self) -> SoapSink:
        return SoapSink(self.soap, "SubmitApplication", reference="slbh")

    def close(self) -> None:
        self.soap.close()


@hookimpl
def register_connectors() -> list[type[Connector]]:
    return [Hjxt]
