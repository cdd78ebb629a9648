"""A small in-memory connector used across the SDK's tests (no database needed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from pydantic import BaseModel

from govconnect import (
    CitizenId,
    Connector,
    Department,
    LegacySystem,
    Level,
    Record,
    dataset,
    field,
    hookimpl,
    query,
)

PEOPLE = [
    {
        "citizen_id": "11010519491231002X",
        "name": "张三",
        "district": "110105",
        "born": date(1949, 12, 31),
    },
    {
        "citizen_id": "110105194806110593",
        "name": "李四",
        "district": "110105",
        "born": date(1948, 6, 11),
    },
]


class Person(Record):
    citizen_id: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, max_length=50)
    district: str = field("行政区划代码", level=Level.PUBLIC, max_length=6)
    born: date = field("出生日期", level=Level.IMPORTANT, personal=True)


class PersonQuery(BaseModel):
    citizen_id: CitizenId


class Registry(Connector):
    name = "people"
    department = Department(code="DEPT01", name="测试局")
    system = LegacySystem(code="SYS01", name="测试系统")

    @query(
        code="111112001/0101",
        name="人员查询",
        abstract="按身份号码查询人员",
        sharing="conditional",
        conditions="凭办件编号",
        update_cycle="real_time",
        published="2026-01-01",
    )
    def person(self, params: PersonQuery) -> Iterator[Person]:
        for row in PEOPLE:
            if row["citizen_id"] == params.citizen_id:
                yield Person(**row)

    @dataset(
        code="111112001/0102",
        name="人员名录",
        abstract="全部人员",
        sharing="unconditional",
        update_cycle="daily",
        published="2026-01-01",
        open_to_public=True,
        key="citizen_id",
        related=["111112001/0101"],
    )
    def people(self) -> Iterator[Person]:
        yield from PEOPLE  # mappings are validated into the record model


@hookimpl
def register_connectors() -> list[type[Connector]]:
    return [Registry]
