"""Sample drop files: what the case system writes at night, deterministic for a seed.

Citizen ID numbers are valid (GB 11643 check character via ``govconnect.citizen_id_check_char``),
names and addresses are Chinese so the byte widths of the layout are exercised, and files are
written the way the legacy system does it: data lines, then the trailer, then a rename into place,
so a reader never sees a half-written ``.DAT`` file with a trailer.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from govconnect import citizen_id_check_char

from .layout import CATEGORIES, encode_line, encode_trailer, fit

__all__ = [
    "APPLY_MATTER",
    "FILE_PATTERN",
    "SAMPLE_CITIZEN_ID",
    "sample_applications",
    "sample_cases",
    "sample_legacy_system",
    "write_drop_file",
    "write_sample_drop",
    "yuan_to_fen",
]

FILE_PATTERN = "MZJZ_*.DAT"
APPLY_MATTER = "11010500MZ-JZ-0003"
"""Matter code (事项编码) of 临时救助申请, the application the one window forwards."""

DISTRICTS = {"110105": "北京市朝阳区", "110101": "北京市东城区", "110108": "北京市海淀区"}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董欧阳司马"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍鹏辉红梅飞鑫波斌宇浩凯健俊"
STREETS = ["建国路", "朝阳北路", "望京街", "劲松路", "双井街", "东三环中路", "安立路", "学院路"]
# Monthly amounts in fen, by category (最低生活保障 per person, 特困 flat, 临时 and 医疗 one-off).
AMOUNTS = {"01": 139500, "02": 181400, "03": 200000, "04": 350000}


def sample_cases(count: int, *, seed: int = 11) -> Iterator[dict[str, str]]:
    """Legacy field values of ``count`` cases, ordered by update time."""
    rng = random.Random(seed)
    seen: set[str] = set()
    updated = datetime(2026, 1, 5, 20, 0, 0)
    for n in range(count):
        region = rng.choice(list(DISTRICTS))
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 70 * 365))
        male = rng.random() < 0.5
        while True:
            seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
            first17 = f"{region}{born:%Y%m%d}{seq:03d}"
            if first17 not in seen:
                seen.add(first17)
                break
        category = rng.choice(list(CATEGORIES))
        size = rng.randint(1, 6)
        amount = AMOUNTS[category] * (size if category == "01" else 1)
        accepted = date(2025, 1, 1) + timedelta(days=rng.randrange(0, 365))
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
        address = (
            f"{DISTRICTS[region]}{rng.choice(STREETS)}{rng.randint(1, 300)}号院"
            f"{rng.randint(1, 30)}号楼{rng.randint(1, 6)}单元{rng.randint(101, 2808)}室"
        )
        updated += timedelta(seconds=rng.randint(1, 90))
        yield {
            "AJBH": f"MZ{accepted:%Y%m%d}{n + 1:06d}",
            "SFZH": first17 + citizen_id_check_char(first17),
            "XM": name,
            "XB": "1" if male else "2",
            "XZQH": region,
            "JZLB": category,
            "JTRK": f"{size:02d}",
            "JZJE": f"{amount:09d}",
            "AJZT": rng.choice("1233334"),
            "SLRQ": f"{accepted:%Y%m%d}",
            "ZZ": fit(address, 60),
            "GXSJ": f"{updated:%Y%m%d%H%M%S}",
        }


SAMPLE_CITIZEN_ID = next(sample_cases(1))["SFZH"]
"""The citizen of the first sample case: a lookup that always finds a case."""


def sample_applications(count: int, *, seed: int = 23) -> Iterator[dict[str, Any]]:
    """Temporary-assistance applications as the one window sends them (JSON objects)."""
    rng = random.Random(seed)
    for n, case in enumerate(sample_cases(count, seed=seed)):
        yield {
            "case_id": f"JZ2026{n + 1:06d}",
            "matter_code": APPLY_MATTER,
            "matter_name": "临时救助申请",
            "applicant": {"kind": "person", "name": case["XM"], "citizen_id": case["SFZH"]},
            "form": {
                "gender": "男" if case["XB"] == "1" else "女",
                "region_code": case["XZQH"],
                "category": "临时救助",
                "household_size": int(case["JTRK"]),
                "amount": f"{rng.randint(5, 40) * 100}.00",
                "address": case["ZZ"],
            },
            "submitted_at": f"2026-01-06T{9 + n % 8:02d}:{n % 60:02d}:00+08:00",
        }


def yuan_to_fen(value: Any) -> int:
    """An amount in yuan (``"2000.00"``) as whole fen (``200000``), as the legacy system stores it."""
    fen = Decimal(str(value).strip()) * 100
    if fen != fen.to_integral_value() or fen < 0:
        raise ValueError(f"{value!r} is not a non-negative amount in yuan with at most 2 decimals")
    return int(fen)


def write_drop_file(path: Path, cases: list[dict[str, str]], *, trailer: bool = True) -> None:
    """Write one drop file (data lines, trailer) under a temporary name, then rename it."""
    tmp = path.with_name(path.name + ".part")
    with tmp.open("wb") as fh:
        for case in cases:
            fh.write(encode_line(case))
        if trailer:
            fh.write(encode_trailer(len(cases)))
    tmp.replace(path)


def write_sample_drop(folder: Path, *, count: int = 120, per_file: int = 50, seed: int = 11) -> int:
    """Fill ``folder`` with ``count`` sample cases in files of ``per_file``; returns the count."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = list(sample_cases(count, seed=seed))
    for i in range(0, count, per_file):
        write_drop_file(
            folder / f"MZJZ_20260105_{i // per_file + 1:03d}.DAT", cases[i : i + per_file]
        )
    return len(cases)


def sample_legacy_system(folder: Path) -> dict[str, str]:
    """A sample drop folder in ``folder``; returns the connector settings that read it."""
    drop = folder / "drop"
    write_sample_drop(drop)
    return {"drop_dir": str(drop), "inbox_dir": str(folder / "inbox")}
