"""Three SQL-backed connectors holding the same people, for the cross-check tests.

``xc_register`` (户籍, authoritative for name, birth date, address and gender), ``xc_civil``
(民政: dates as text in several spellings, full-width digits, gender as a label) and
``xc_social`` (社保: names only). :func:`plant` writes the tables with a known set of real
conflicts and many differences of spelling that must not count as conflicts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any, ClassVar

import sqlalchemy as sa
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
)
from govconnect.catalog.identity.checks import citizen_id_check_char

ID = "公民身份号码"


class RegisterRow(Record):
    citizen_id: CitizenId = field(ID, level=Level.SENSITIVE, personal=True, element=ID)
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, element="姓名")
    born: date = field("出生日期", level=Level.SENSITIVE, personal=True, element="出生日期")
    address: str = field("户籍地址", level=Level.SENSITIVE, personal=True, element="住址")
    gender: str = field(
        "性别代码", level=Level.INTERNAL, personal=True, element="性别", code_table="gender"
    )


class CivilRow(Record):
    citizen_id: CitizenId = field(ID, level=Level.SENSITIVE, personal=True, element=ID)
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, element="姓名")
    born: str = field("出生日期", level=Level.SENSITIVE, personal=True, element="出生日期")
    address: str = field("住址", level=Level.SENSITIVE, personal=True, element="住址")
    gender: str = field(
        "性别", level=Level.INTERNAL, personal=True, element="性别", code_table="gender"
    )


class SocialRow(Record):
    citizen_id: CitizenId = field(ID, level=Level.SENSITIVE, personal=True)  # by type
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, element="姓名")


class SqlSettings(BaseModel):
    url: str
    table: str


def _table(name: str, columns: list[str]) -> sa.Table:
    return sa.Table(name, sa.MetaData(), *(sa.Column(c, sa.String(200)) for c in columns))


class _Sql(Connector):
    Settings = SqlSettings
    columns: ClassVar[list[str]] = []

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        self.engine = sa.create_engine(self.settings.url)
        self.table = _table(self.settings.table, self.columns)

    def close(self) -> None:
        self.engine.dispose()

    def rows(self) -> Iterator[dict[str, Any]]:
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(self.table)):
                yield dict(row._mapping)


META: dict[str, Any] = {
    "sharing": "conditional",
    "conditions": "仅用于比对核验",
    "update_cycle": "daily",
    "published": "2026-01-01",
    "key": "citizen_id",
}


class Register(_Sql):
    name = "xc_register"
    department = Department(code="11010500000", name="公安分局")
    system = LegacySystem(code="HJ", name="户籍系统")
    columns: ClassVar[list[str]] = ["citizen_id", "name", "born", "address", "gender"]

    @dataset(
        code="111112001/9001",
        name="户籍",
        abstract="户籍人口",
        authoritative=["姓名", "出生日期", "住址", "性别"],
        **META,
    )
    def people(self) -> Iterator[RegisterRow]:
        yield from self.rows()  # type: ignore[misc]


class Civil(_Sql):
    name = "xc_civil"
    department = Department(code="11010500001", name="民政局")
    system = LegacySystem(code="MZ", name="民政系统")
    columns: ClassVar[list[str]] = ["citizen_id", "name", "born", "address", "gender"]

    @dataset(code="111112001/9002", name="救助对象", abstract="救助对象", **META)
    def people(self) -> Iterator[CivilRow]:
        yield from self.rows()  # type: ignore[misc]


class Social(_Sql):
    name = "xc_social"
    department = Department(code="11010500002", name="人社局")
    system = LegacySystem(code="SB", name="社保系统")
    columns: ClassVar[list[str]] = ["citizen_id", "name"]

    @dataset(code="111112001/9003", name="参保人员", abstract="参保人员", **META)
    def people(self) -> Iterator[SocialRow]:
        yield from self.rows()  # type: ignore[misc]


@hookimpl
def register_connectors() -> list[type[Connector]]:
    return [Register, Civil, Social]


SURNAMES = "张王李赵刘陈杨黄周吴"
GIVEN = "伟芳娜敏静丽强磊军洋"
STREETS = ["朝阳路", "建国路", "光华路", "东三环中路", "工体北路"]
FULL = str.maketrans("0123456789", "０１２３４５６７８９")


def citizen_id(i: int) -> tuple[str, date]:
    born = date(1950, 1, 1) + timedelta(days=(i * 37) % 20000)
    first17 = f"110105{born:%Y%m%d}{i % 1000:03d}"
    return first17 + citizen_id_check_char(first17), born


def plant(
    engine: sa.Engine, tables: dict[str, str], n: int, seed: int = 5
) -> dict[tuple[str, str], set[str]]:
    """Write ``n`` people to register and civil (and every third to social); return the planted
    conflicts as ``{(citizen_id, element): {sources}}``. Also plants one duplicate key in civil
    (same values, so it is counted as a duplicate and never as a conflict)."""
    rng = random.Random(seed)
    reg, civ, soc = [], [], []
    planted: dict[tuple[str, str], set[str]] = {}
    for i in range(n):
        cid, born = citizen_id(i)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
        address = f"北京市朝阳区{rng.choice(STREETS)}{rng.randint(1, 300)}号"
        gender = rng.choice("12")
        reg.append(
            {
                "citizen_id": cid,
                "name": name,
                "born": born.isoformat(),
                "address": address,
                "gender": gender,
            }
        )
        # spellings that are not conflicts
        c_name = f" {name[0]} {name[1:]}" if i % 4 == 0 else name
        c_born = [f"{born.year}年{born.month}月{born.day}日", f"{born:%Y%m%d}", f"{born:%Y/%m/%d}"][
            i % 3
        ]
        c_addr = address.translate(FULL) if i % 5 == 0 else address.replace("号", " 号")
        c_gender = {"1": "男", "2": "女"}[gender] if i % 2 else gender
        kind = i % 10
        if kind == 1:  # a real conflict of name
            c_name = rng.choice(SURNAMES) + "某某"
            planted[(cid, "姓名")] = {"xc_register.people", "xc_civil.people"}
        elif kind == 2:
            c_born = (born + timedelta(days=1)).isoformat()
            planted[(cid, "出生日期")] = {"xc_register.people", "xc_civil.people"}
        elif kind == 3:
            c_addr = address.replace("朝阳区", "海淀区")
            planted[(cid, "住址")] = {"xc_register.people", "xc_civil.people"}
        civ.append(
            {
                "citizen_id": cid,
                "name": c_name,
                "born": c_born,
                "address": c_addr,
                "gender": c_gender,
            }
        )
        if i % 3 == 0:
            s_name = name
            if kind == 4:
                s_name = name + "华"
                planted[(cid, "姓名")] = {"xc_register.people", "xc_social.people"}
            soc.append({"citizen_id": cid, "name": s_name})
    civ.append(dict(civ[0]))  # a duplicate key inside one source
    rows = {"register": reg, "civil": civ, "social": soc}
    with engine.begin() as conn:
        for which, table_name in tables.items():
            cols = list(rows[which][0])
            table = _table(table_name, cols)
            table.create(conn)
            conn.execute(table.insert(), rows[which])
    return planted
