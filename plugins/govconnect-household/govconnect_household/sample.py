"""A realistic sample household-registration database: households of residents with valid IDs.

Deterministic for a seed, so tests and benchmarks can rely on the same rows. ``invalid`` corrupts
the check digit of that many residents' IDs — the dirty rows every real legacy table has, which
publishing must reject and report rather than send.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from govconnect import citizen_id_check_char

from .schema import application_table, resident_table

__all__ = [
    "DISTRICTS",
    "INVALID_KINDS",
    "SAMPLE_CITIZEN_ID",
    "create_sample_database",
    "sample_cases",
    "sample_legacy_system",
    "sample_residents",
]

DISTRICTS = {
    "110101": "北京市东城区",
    "110102": "北京市西城区",
    "110105": "北京市朝阳区",
    "110106": "北京市丰台区",
    "110108": "北京市海淀区",
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍鹏辉建华红梅飞鑫波斌宇浩凯健俊帆帅旭宁龙林欣怡佳琪子涵雨轩梓萱思远一诺"
STREETS = ["建国路", "朝阳北路", "望京街", "三里屯路", "劲松路", "双井街", "东三环中路", "安立路"]
RELATIONS = ["户主", "配偶", "子", "女", "父母", "孙子女", "其他"]


def _citizen_id(rng: random.Random, region: str, born: date, male: bool, seen: set[str]) -> str:
    while True:
        seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
        first17 = f"{region}{born:%Y%m%d}{seq:03d}"
        if first17 not in seen:
            seen.add(first17)
            return first17 + citizen_id_check_char(first17)


def sample_residents(count: int, *, seed: int = 7, invalid: int = 0) -> Iterator[dict[str, Any]]:
    """Rows for the legacy table (legacy column names), grouped in households of 1-5 people."""
    rng = random.Random(seed)
    seen: set[str] = set()
    corrupt = set(rng.sample(range(count), invalid)) if invalid else set()
    base_time = datetime(2026, 1, 1, 8, 0, 0)
    produced = 0
    household = 0
    while produced < count:
        household += 1
        region = rng.choice(list(DISTRICTS))
        address = (
            f"{DISTRICTS[region]}{rng.choice(STREETS)}{rng.randint(1, 300)}号"
            f"{rng.randint(1, 30)}楼{rng.randint(1, 6)}单元{rng.randint(101, 2808)}"
        )
        size = min(rng.choice((1, 2, 2, 3, 3, 3, 4, 4, 5)), count - produced)
        for member in range(size):
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 80 * 365))
            male = rng.random() < 0.51
            cid = _citizen_id(rng, region, born, male, seen)
            if produced in corrupt:
                wrong = "0123456789X".replace(cid[17], "")
                cid = cid[:17] + rng.choice(wrong)
            registered = born + timedelta(days=rng.randrange(0, 365))
            yield {
                "gmsfhm": cid,
                "xm": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
                "xb": "1" if male else "2",
                "mz": "01" if rng.random() < 0.9 else f"{rng.randint(2, 56):02d}",
                "csrq": born,
                "hh": f"{region[-3:]}{household:06d}",
                "yhzgx": RELATIONS[0] if member == 0 else rng.choice(RELATIONS[1:]),
                "hjdz": address,
                "xzqh": region,
                "lxdh": f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
                if rng.random() < 0.8
                else None,
                "zt": "1" if rng.random() < 0.95 else rng.choice("23"),
                "djrq": max(registered, date(1958, 1, 9)),
                "gxsj": base_time + timedelta(seconds=produced),
            }
            produced += 1


def create_sample_database(
    url: str,
    *,
    count: int = 5000,
    seed: int = 7,
    invalid: int = 0,
    table: str = "hj_resident",
    applications_table: str = "hj_qrsq",
    reset: bool = True,
    chunk: int = 5000,
) -> int:
    """Create (or recreate, with ``reset``) the legacy tables at ``url`` and fill the resident
    table; the move-in application table starts empty (the intake bridge fills it). Returns rows."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    t = resident_table(metadata, table)
    applications = application_table(metadata, applications_table)
    try:
        with engine.begin() as conn:
            for each in (t, applications):
                if reset:
                    each.drop(conn, checkfirst=True)
                each.create(conn, checkfirst=True)
        batch: list[dict[str, Any]] = []
        written = 0
        with engine.begin() as conn:
            for row in sample_residents(count, seed=seed, invalid=invalid):
                batch.append(row)
                if len(batch) >= chunk:
                    conn.execute(t.insert(), batch)
                    written += len(batch)
                    batch.clear()
            if batch:
                conn.execute(t.insert(), batch)
                written += len(batch)
        return written
    finally:
        engine.dispose()


PROVINCES = ["河北省", "山东省", "河南省", "山西省", "湖北省", "辽宁省"]
REASONS = ["投靠亲属", "工作调动", "购房落户", "大中专毕业", "婚迁"]
INVALID_KINDS = (
    "check_digit",  # citizen ID with a wrong check character
    "birth_date",  # form birth date not a date
    "gender",  # a gender the code table does not know
    "missing_address",  # required destination address left out
    "unknown_matter",  # a matter this node does not handle
)


def sample_cases(
    count: int,
    *,
    seed: int = 11,
    invalid: int = 0,
    matter_code: str = "11010500000-HJ-0001",
    prefix: str = "HJ2026",
) -> Iterator[dict[str, Any]]:
    """Move-in applications as the one window sends them (JSON objects); ``invalid`` of them are
    broken in one of the ways real applications are, cycling through :data:`INVALID_KINDS`."""
    rng = random.Random(seed)
    seen: set[str] = set()
    broken = dict(
        zip(sorted(rng.sample(range(count), invalid)), _cycle(INVALID_KINDS), strict=False)
    )
    for i in range(count):
        region = rng.choice(list(DISTRICTS))
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(0, 60 * 365))
        male = rng.random() < 0.5
        cid = _citizen_id(rng, "130102", born, male, seen)
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        case: dict[str, Any] = {
            "case_id": f"{prefix}{i + 1:06d}",
            "matter_code": matter_code,
            "matter_name": "户口迁入登记",
            "applicant": {
                "kind": "person",
                "name": name,
                "citizen_id": cid,
                "phone": f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}",
            },
            "form": {
                "gender": "男" if male else "女",
                "ethnicity": "汉族"
                if rng.random() < 0.9
                else rng.choice(["回族", "满族", "蒙古族"]),
                "birth_date": born.isoformat(),
                "from_province": rng.choice(PROVINCES),
                "from_address": f"{rng.choice(STREETS)}{rng.randint(1, 99)}号",
                "to_address": f"{DISTRICTS[region]}{rng.choice(STREETS)}{rng.randint(1, 300)}号",
                "reason": rng.choice(REASONS),
            },
            "materials": [
                {
                    "kind": "licence",
                    "name": "居民户口簿",
                    "licence_type": "HKB",
                    "licence_no": f"HKB{rng.randrange(10**10):010d}",
                    "issuer": "公安机关",
                },
                {
                    "kind": "file",
                    "name": "准迁申请表",
                    "uri": f"oss://intake/{i + 1}.pdf",
                    "sha256": f"{rng.getrandbits(256):064x}",
                    "size": rng.randint(20_000, 400_000),
                },
            ],
            "submitted_at": (datetime(2026, 11, 20, 9, 0) + timedelta(minutes=7 * i)).isoformat(),
            "channel": rng.choice(["window", "online", "mobile"]),
        }
        kind = broken.get(i)
        if kind == "check_digit":
            wrong = "0123456789X".replace(cid[17], "")
            case["applicant"]["citizen_id"] = cid[:17] + rng.choice(wrong)
        elif kind == "birth_date":
            case["form"]["birth_date"] = "1990年13月"
        elif kind == "gender":
            case["form"]["gender"] = "保密"
        elif kind == "missing_address":
            del case["form"]["to_address"]
        elif kind == "unknown_matter":
            case["matter_code"] = "11010500000-HJ-9999"
        yield case


def _cycle(values: tuple[str, ...]) -> Iterator[str]:
    while True:
        yield from values


def process_applications(
    url: str,
    *,
    in_progress: int = 0,
    completed: int = 0,
    returned: int = 0,
    table: str = "hj_qrsq",
    seed: int = 5,
) -> dict[str, int]:
    """Play the clerks: take up, complete (issuing a move-in permit number) or return pending
    applications in the legacy table, as the legacy system's own screens would."""
    rng = random.Random(seed)
    engine = sa.create_engine(url)
    t = application_table(sa.MetaData(), table)
    done = {"in_progress": 0, "completed": 0, "returned": 0}
    try:
        with engine.begin() as conn:
            pending = [
                r[0]
                for r in conn.execute(sa.select(t.c.sqbh).where(t.c.clzt == "0").order_by(t.c.sqbh))
            ]
            rng.shuffle(pending)
            plan = [("2", "completed")] * completed + [("3", "returned")] * returned
            plan += [("1", "in_progress")] * in_progress
            for case_id, (state, label) in zip(pending, plan, strict=False):
                values: dict[str, Any] = {"clzt": state, "gxsj": datetime.now()}
                if state == "2":
                    values["zqzbh"] = f"ZQ{rng.randrange(10**8):08d}"
                if state == "3":
                    values["clyj"] = "迁入地址与房产证明不符，请核对后重新申请"
                conn.execute(t.update().where(t.c.sqbh == case_id).values(**values))
                done[label] += 1
    finally:
        engine.dispose()
    return done


SAMPLE_CITIZEN_ID = next(sample_residents(1))["gmsfhm"]
"""The first resident of the default sample: a lookup that always finds someone."""


def sample_legacy_system(folder: Path) -> dict[str, str]:
    """A small sample household database in ``folder``; returns the connector settings for it.

    The conformance kit (``govconnect check household`` and the plugin's tests) runs against it.
    """
    url = f"sqlite:///{folder / 'household.sqlite'}"
    create_sample_database(url, count=200)
    return {"url": url}
