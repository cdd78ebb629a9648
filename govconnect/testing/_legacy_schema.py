"""A realistic sample legacy schema, with its truth, for testing discovery.

Twelve tables in the style of Chinese government systems built by vendors over the years:
pinyin-initial column names (``GMSFHM``, ``XM``, ``TYSHXYDM``…), Chinese comments on some tables
and none on others, dates kept as ``CHAR(8)`` / ``VARCHAR(10)`` text, code columns, tables with no
declared primary key, a mixed-case table, Chinese identifiers, a reserved word and a name with a
space (both need quoting), an empty table and a BLOB column. The values are dirty the way real
ones are: a few invalid ID check digits, blanks, NULLs and full-width digits.

Everything is **synthetic** and **deterministic** (seeded): the same seed gives the same rows on
every backend, so precision and recall of discovery can be asserted against :attr:`truth` — which
columns are personal information and which hold identity numbers, as a person would label them
(a few of them on purpose beyond what the detectors can know: a diagnosis is personal, a company's
office address is not).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..catalog.identity import (
    citizen_id_check_char,
    credit_code_check_char,
    organization_code_check_char,
)

__all__ = ["LEGACY_TABLES", "ColumnSpec", "LegacySchema", "TableSpec", "legacy_schema"]

Gen = Callable[[random.Random, int], Any]

_REGIONS = ("110105", "310104", "440106", "510107", "350102", "420106")
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红文斌"
_STREETS = ("建国路", "人民路", "解放大街", "中山路", "和平里", "长江路", "学府路")
_CITIES = (("北京市", "朝阳区"), ("上海市", "徐汇区"), ("广州市", "天河区"), ("成都市", "武侯区"))
_FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _citizen_id(rng: random.Random, i: int, dirty: bool = True) -> str | None:
    born = date(1940, 1, 1) + timedelta(days=rng.randrange(25_000))
    first17 = f"{rng.choice(_REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    value = first17 + citizen_id_check_char(first17)
    if not dirty:
        return value
    roll = rng.random()
    if roll < 0.03:  # a wrong check character, as typed by a clerk
        wrong = "10X98765432".replace(value[-1], "")
        return first17 + rng.choice(wrong)
    if roll < 0.06:
        return value.translate(_FULL_WIDTH)
    if roll < 0.08:
        return ""
    return value


def _clean_citizen_id(rng: random.Random, i: int) -> str:
    return _citizen_id(rng, i, dirty=False) or ""


def _credit_code(rng: random.Random, i: int) -> str:
    body = "".join(rng.choice(_ORG_ALPHABET) for _ in range(8))
    first17 = f"91{rng.choice(_REGIONS)}{body}{organization_code_check_char(body)}"
    return first17 + credit_code_check_char(first17)


def _name(rng: random.Random, i: int) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def _phone(rng: random.Random, i: int) -> str | None:
    if rng.random() < 0.05:
        return rng.choice(("", None))
    return f"1{rng.choice('35789')}{rng.randrange(10**9):09d}"


def _address(rng: random.Random, i: int) -> str:
    city, district = rng.choice(_CITIES)
    return (
        f"{city}{district}{rng.choice(_STREETS)}{rng.randrange(1, 300)}号{rng.randrange(1, 30)}栋"
    )


def _bank_card(rng: random.Random, i: int) -> str:
    body = "6222" + "".join(str(rng.randrange(10)) for _ in range(11))
    total = 0
    for k, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if k % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def _email(rng: random.Random, i: int) -> str:
    return f"user{rng.randrange(10**6)}@example.gov.cn"


def _date_text(fmt: str) -> Gen:
    def gen(rng: random.Random, i: int) -> str | None:
        if rng.random() < 0.02:
            return None
        return (date(1950, 1, 1) + timedelta(days=rng.randrange(24_000))).strftime(fmt)

    return gen


def _date(rng: random.Random, i: int) -> date:
    return date(2000, 1, 1) + timedelta(days=rng.randrange(9000))


def _timestamp(rng: random.Random, i: int) -> datetime:
    return datetime(2020, 1, 1) + timedelta(seconds=rng.randrange(150_000_000))


def _choice(*values: Any) -> Gen:
    return lambda rng, i: rng.choice(values)


def _seq(prefix: str) -> Gen:
    return lambda rng, i: f"{prefix}{i:08d}"


def _amount(rng: random.Random, i: int) -> Decimal:
    return Decimal(rng.randrange(100, 10**7)) / 100


def _company(rng: random.Random, i: int) -> str:
    return f"{rng.choice(_CITIES)[0]}{rng.choice(('华兴', '金科', '恒达', '瑞丰'))}{i}科技有限公司"


def _office(rng: random.Random, i: int) -> str:
    city, district = rng.choice(_CITIES)
    return f"{city}{district}{rng.choice(_STREETS)}{rng.randrange(1, 300)}号"


def _text(rng: random.Random, i: int) -> str | None:
    return rng.choice(("材料齐全", "已电话联系", "", None, "待补正材料", "窗口已受理"))


@dataclass(frozen=True)
class ColumnSpec:
    """One column: its SQL type, an optional comment, a value generator and the truth."""

    name: str
    type: Any
    gen: Gen
    comment: str | None = None
    personal: bool = False
    identity: str | None = None
    primary_key: bool = False
    index: bool = False
    nullable: bool = True


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    columns: tuple[ColumnSpec, ...]
    rows: int = 300
    comments: bool = True


def _c(name: str, type_: Any, gen: Gen, comment: str | None = None, **kw: Any) -> ColumnSpec:
    return ColumnSpec(name, type_, gen, comment, **kw)


S = sa.String
LEGACY_TABLES: tuple[TableSpec, ...] = (
    TableSpec("rk_jbxx", "人口基本信息", (
        _c("gmsfhm", sa.CHAR(18), _clean_citizen_id, "公民身份号码", personal=True, identity="citizen_id", primary_key=True),
        _c("xm", S(50), _name, "姓名", personal=True, nullable=False),
        _c("xb", sa.CHAR(1), _choice("1", "2", "1", "2", "9"), "性别代码", personal=True),
        _c("mz", sa.CHAR(2), _choice("01", "01", "01", "03", "05", "08"), "民族代码", personal=True),
        _c("csrq", sa.CHAR(8), _date_text("%Y%m%d"), "出生日期", personal=True),
        _c("jzdz", S(200), _address, "居住地址", personal=True),
        _c("lxdh", S(20), _phone, "联系电话", personal=True),
        _c("xzqh", sa.CHAR(6), _choice(*_REGIONS), "行政区划代码"),
        _c("gxsj", sa.DateTime, _timestamp, "更新时间", index=True),
    )),
    TableSpec("qy_djxx", "企业登记信息", comments=False, columns=(
        _c("tyshxydm", sa.CHAR(18), _credit_code, identity="credit_code"),
        _c("qymc", S(200), _company),
        _c("fddbr", S(50), _name, personal=True),
        _c("zcdz", S(200), _office),
        _c("zczb", sa.Numeric(18, 2), _amount),
        _c("clrq", sa.Date, _date),
        _c("jyzt", sa.CHAR(1), _choice("1", "2", "3")),
        _c("gxsj", sa.DateTime, _timestamp),
    )),
    TableSpec("sb_sqxx", "社会保障申请", (
        _c("sqbh", S(32), _seq("SB"), "申请编号", primary_key=True),
        _c("sqr_sfzh", S(18), _citizen_id, "申请人身份证号", personal=True, identity="citizen_id"),
        _c("sqr_xm", S(50), _name, "申请人姓名", personal=True),
        _c("sqrq", S(10), _date_text("%Y-%m-%d"), "申请日期"),
        _c("sxbm", S(32), _choice("SB-0001", "SB-0002", "SB-0003"), "事项编码"),
        _c("blzt", sa.CHAR(1), _choice("0", "1", "2", "3"), "办理状态"),
        _c("yhkh", S(19), _bank_card, "银行卡号", personal=True),
        _c("je", sa.Numeric(12, 2), _amount, "补助金额"),
        _c("bz", sa.Text, _text, "备注"),
        _c("cjsj", sa.DateTime, _timestamp, "创建时间"),
    )),
    TableSpec("mz_jzdx", "民政救助对象", comments=False, columns=(
        _c("zjhm", S(18), _citizen_id, personal=True, identity="citizen_id"),
        _c("xm", S(50), _name, personal=True),
        _c("xb", S(4), _choice("男", "女"), personal=True),
        _c("jzlx", sa.CHAR(2), _choice("01", "02", "03")),
        _c("bzje", sa.Numeric(10, 2), _amount),
        _c("ffrq", sa.CHAR(8), _date_text("%Y%m%d")),
        _c("jzdz", S(200), _address, personal=True),
        _c("lxdh", S(20), _phone, personal=True),
        _c("zt", sa.CHAR(1), _choice("1", "2")),
    )),
    TableSpec("HJ_HZXX", "户主信息", comments=False, columns=(
        _c("HH", S(9), _seq("H"), primary_key=True),
        _c("HZXM", S(50), _name, personal=True),
        _c("HZSFZ", S(18), _clean_citizen_id, personal=True, identity="citizen_id"),
        _c("XZQH", sa.CHAR(6), _choice(*_REGIONS)),
        _c("DJRQ", sa.Date, _date),
    )),
    TableSpec("gz_dwxx", "单位信息", (
        _c("zzjgdm", sa.CHAR(9), _seq("7"), "组织机构代码", primary_key=True),
        _c("dwmc", S(200), _company, "单位名称"),
        _c("dwdz", S(200), _office, "单位地址"),
        _c("fzr", S(50), _name, "负责人", personal=True),
        _c("lxdh", S(20), _phone, "联系电话", personal=True),
    )),
    TableSpec("jy_xsxx", "学生信息", (
        _c("xh", S(20), _seq("XS"), "学号", primary_key=True),
        _c("xm", S(50), _name, "姓名", personal=True),
        _c("xb", sa.CHAR(1), _choice("1", "2"), "性别", personal=True),
        _c("csrq", S(10), _date_text("%Y-%m-%d"), "出生日期", personal=True),
        _c("jhrxm", S(50), _name, "监护人姓名", personal=True),
        _c("jhrdh", S(20), _phone, "监护人电话", personal=True),
        _c("dzyx", S(100), _email, "电子邮箱", personal=True),
        _c("rxrq", sa.Date, _date, "入学日期"),
    )),
    TableSpec("ws_jzjl", "就诊记录", comments=False, columns=(
        _c("jzbh", S(20), _seq("JZ")),
        _c("brxm", S(50), _name, personal=True),
        _c("brsfzh", S(18), _citizen_id, personal=True, identity="citizen_id"),
        _c("zd", S(200), _choice("上呼吸道感染", "高血压", "糖尿病", "骨折"), personal=True),
        _c("jzrq", sa.CHAR(8), _date_text("%Y%m%d")),
        _c("fy", sa.Numeric(10, 2), _amount),
    )),
    TableSpec("dm_xzqh", "行政区划代码表", (
        _c("dm", sa.CHAR(6), lambda rng, i: f"{110000 + i:06d}", "代码", primary_key=True),
        _c("mc", S(100), _choice("朝阳区", "海淀区", "徐汇区", "天河区"), "名称"),
        _c("sjdm", sa.CHAR(6), _choice("110000", "310000", "440000"), "上级代码"),
    )),
    TableSpec("rz_czrz", "操作日志", comments=False, columns=(
        _c("id", sa.Integer, lambda rng, i: i + 1, primary_key=True),
        _c("czr", S(32), lambda rng, i: f"user{rng.randrange(40):02d}"),
        _c("czsj", sa.DateTime, _timestamp, index=True),
        _c("desc", S(100), _choice("登录", "查询", "导出", "修改")),
        _c("ip dz", S(45), lambda rng, i: f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"),
    )),
    TableSpec("临时登记", "临时登记 (Chinese identifiers, empty)", rows=0, columns=(
        _c("姓名", S(50), _name, personal=True),
        # empty: personal by meaning, but it holds no identity numbers a sample could show
        _c("公民身份号码", S(18), _clean_citizen_id, personal=True),
        _c("登记日期", sa.Date, _date),
    )),
    TableSpec("fj_clxx", "附件材料", (
        _c("clbh", S(32), _seq("CL"), "材料编号", primary_key=True),
        _c("sqbh", S(32), _seq("SB"), "申请编号"),
        _c("wjmc", S(200), lambda rng, i: f"材料{i}.pdf", "文件名称"),
        _c("wjnr", sa.LargeBinary, lambda rng, i: bytes(rng.randrange(256) for _ in range(64)), "文件内容"),
        _c("scsj", sa.DateTime, _timestamp, "上传时间"),
    )),
)  # fmt: skip
"""The twelve tables (names without the per-run prefix)."""


@dataclass
class LegacySchema:
    """The sample schema under a per-run ``prefix`` (shared servers: concurrent runs must not meet)."""

    prefix: str = ""
    specs: Sequence[TableSpec] = LEGACY_TABLES
    seed: int = 12

    def table_name(self, spec: TableSpec) -> str:
        return f"{self.prefix}{spec.name}"

    @property
    def table_names(self) -> list[str]:
        return [self.table_name(s) for s in self.specs]

    def metadata(self, schema: str | None = None) -> sa.MetaData:
        md = sa.MetaData(schema=schema)
        for spec in self.specs:
            sa.Table(
                self.table_name(spec),
                md,
                *(
                    sa.Column(
                        c.name,
                        c.type,
                        primary_key=c.primary_key,
                        index=c.index or None,
                        nullable=c.nullable and not c.primary_key,
                        comment=c.comment if spec.comments else None,
                    )
                    for c in spec.columns
                ),
                comment=spec.title if spec.comments else None,
                mysql_charset="utf8mb4",
            )
        return md

    def rows(self, spec: TableSpec) -> list[dict[str, Any]]:
        """The table's rows; the same for a given seed on every backend."""
        rng = random.Random(f"{self.seed}:{spec.name}")
        return [{c.name: c.gen(rng, i) for c in spec.columns} for i in range(spec.rows)]

    def create(self, engine: Engine, schema: str | None = None) -> None:
        """Create and fill every table (the only writes; discovery itself never writes)."""
        md = self.metadata(schema)
        md.create_all(engine)
        with engine.begin() as conn:
            for spec in self.specs:
                rows = self.rows(spec)
                if rows:
                    conn.execute(md.tables[_key(schema, self.table_name(spec))].insert(), rows)

    def drop(self, engine: Engine, schema: str | None = None) -> None:
        self.metadata(schema).drop_all(engine, checkfirst=True)

    def truth(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{table: {column: {"personal": bool, "identity": str | None}}}`` (machine-readable)."""
        return {
            self.table_name(s): {
                c.name: {"personal": c.personal, "identity": c.identity} for c in s.columns
            }
            for s in self.specs
        }

    def truth_json(self) -> str:
        return json.dumps(self.truth(), ensure_ascii=False, indent=2)

    def sampled_values(self) -> set[str]:
        """Every distinct non-trivial value written (for "no value leaves the process" checks)."""
        out: set[str] = set()
        for spec in self.specs:
            for row in self.rows(spec):
                out.update(str(v) for v in row.values() if v is not None and len(str(v)) >= 4)
        return out


def _key(schema: str | None, name: str) -> str:
    return f"{schema}.{name}" if schema else name


def legacy_schema(prefix: str = "", seed: int = 12) -> LegacySchema:
    """The sample legacy schema; pass a unique ``prefix`` on shared database servers."""
    return LegacySchema(prefix=prefix, seed=seed)
