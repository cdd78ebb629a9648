"""Discovery's parts, without a database: the dictionary, the detectors, the hooks, the layering.

Detectors see normalised sampled values and must (1) find what is there with a reason that gives
counts, (2) never put a value into a reason, (3) never raise, whatever the legacy system holds.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql

from govconnect import CodeTable, Finding, Level, Term, hookimpl, load_registry
from govconnect.catalog.codetables import NATIONAL_CODE_TABLES
from govconnect.catalog.fields import DataType
from govconnect.discovery import (
    BUILTIN_DETECTORS,
    BUILTIN_TERMS,
    ColumnEvidence,
    ColumnReport,
    Dictionary,
)
from govconnect.discovery.classify import Toolkit, suggest
from govconnect.discovery.discover import toolkit
from govconnect.discovery.sqltypes import catalog_type
from govconnect.testing._legacy_schema import (
    _bank_card,
    _citizen_id,
    _clean_citizen_id,
    _credit_code,
    _email,
    _name,
)

ROOT = Path(__file__).resolve().parents[1]
TABLES = {t.name: t for t in NATIONAL_CODE_TABLES}


DEFAULT = Toolkit(Dictionary(), BUILTIN_DETECTORS, TABLES)


def check(name: str, values: list[str], length: int = 40, tools: Toolkit = DEFAULT) -> ColumnReport:
    """The suggestions for a VARCHAR(length) column ``name`` holding ``values``."""
    declared = ColumnReport(name, f"VARCHAR({length})", True, length)
    return suggest("t", declared, None, values, tools)


def evidence(values: list[str], name: str = "col", term: Term | None = None) -> ColumnEvidence:
    return ColumnEvidence("t", name, DataType.CHAR, term, values, 0, TABLES)


def findings(values: list[str], name: str = "col", term: Term | None = None) -> list[Finding]:
    col = evidence(values, name, term)
    return [f for d in BUILTIN_DETECTORS for f in d.detect(col)]


def aspects(values: list[str], **kw: object) -> dict[str, str]:
    return {f.aspect: f.value for f in findings(values, **kw)}  # type: ignore[arg-type]


def generated(gen, n: int = 100, seed: int = 3) -> list[str]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    return [v for v in (gen(rng, i) for i in range(n)) if v]


# --- the dictionary ------------------------------------------------------------------------------


def test_dictionary_has_at_least_80_documented_entries_including_the_issue_examples() -> None:
    assert len(BUILTIN_TERMS) >= 80
    d = Dictionary()
    expected = {
        "GMSFHM": "公民身份号码",
        "sfzh": "公民身份号码",
        "SFZHM": "公民身份号码",
        "XM": "姓名",
        "XB": "性别",
        "LXDH": "联系电话",
        "TYSHXYDM": "统一社会信用代码",
        "ZZJGDM": "组织机构代码",
        "CSRQ": "出生日期",
        "JZDZ": "居住地址",
        "GXSJ": "更新时间",
        "updated_at": "更新时间",
        "phone": "联系电话",
    }
    for name, title in expected.items():
        term = d.lookup(name)
        assert term is not None and term.title == title, name
    assert d.lookup("SJHM").kind == "phone"  # type: ignore[union-attr]


def test_dictionary_resolves_prefixed_names_and_chinese_titles() -> None:
    d = Dictionary()
    assert d.find("SQR_SFZH") == ("sfzh", BUILTIN_TERMS["sfzh"])
    assert d.by_title("姓名") == BUILTIN_TERMS["xm"]
    assert d.lookup("no_such_thing_qwz") is None


def test_dictionary_entries_override_and_accept_plain_titles() -> None:
    d = Dictionary()
    d.update({"xm": "名字", "hjszd": Term("户籍所在地", kind="address")})
    assert d.lookup("XM") == Term("名字")
    assert d.lookup("hjszd").personal  # type: ignore[union-attr]


# --- the detectors -------------------------------------------------------------------------------


def test_citizen_ids_are_found_when_most_values_validate_and_the_share_is_the_reason() -> None:
    values = generated(_citizen_id, 200)
    (found,) = [f for f in findings(values) if f.aspect == "identity"]
    assert found.value == "citizen_id"
    valid = int(found.reason.split(" of ")[0])
    assert 0.6 * len(values) <= valid < len(values)  # dirty: a few bad check digits
    assert f"of {len(values)} sampled non-blank values are valid GB 11643" in found.reason


def test_full_width_digits_still_validate() -> None:
    values = [
        v.translate(str.maketrans("0123456789X", "０１２３４５６７８９Ｘ"))
        for v in generated(_clean_citizen_id)
    ]
    col = check("hm", values, 18, DEFAULT)
    assert col.identity == "citizen_id" and col.python_type == "CitizenId"


def test_mostly_invalid_ids_are_not_an_identity_but_the_name_is_noted() -> None:
    values = [v[:17] + ("0" if v[17] != "0" else "1") for v in generated(_clean_citizen_id)]
    found = findings(values, name="sfzh", term=BUILTIN_TERMS["sfzh"])
    assert "identity" not in {f.aspect for f in found}
    (note,) = [f for f in found if f.aspect == "note"]
    assert "below 60%" in note.reason


def test_credit_codes() -> None:
    assert aspects(generated(_credit_code))["identity"] == "credit_code"


def test_code_tables_need_the_name_labels_or_enough_distinct_codes() -> None:
    flags = ["1", "2"] * 50
    assert "code_table" not in aspects(flags, name="zt")  # a status flag is not a gender
    assert aspects(flags, name="xb", term=BUILTIN_TERMS["xb"])["code_table"] == "gender"
    assert aspects(["男", "女"] * 20)["code_table"] == "gender"
    assert aspects([f"{i % 56 + 1:02d}" for i in range(100)])["code_table"] == "ethnicity"


def test_dates_in_text() -> None:
    assert aspects(["19850312", "20011231"] * 10)["temporal"] == "date"
    assert aspects(["1985-03-12", "2001-1-5"] * 10)["temporal"] == "date"
    assert aspects(["1985年3月12日"] * 10)["temporal"] == "date"
    assert aspects(["2024-01-02 03:04:05"] * 10)["temporal"] == "datetime"
    assert "temporal" not in aspects(["19851312", "12345678"] * 10)  # not calendar dates


def test_personal_patterns() -> None:
    assert aspects(["13812345678", "15900001111"] * 10)["personal"] == "phone"
    assert aspects(["010-62345678"] * 10)["personal"] == "phone"
    assert aspects(generated(_email))["personal"] == "email"
    assert aspects(generated(_bank_card))["personal"] == "bank_card"
    assert aspects(generated(_name))["personal"] == "name"
    assert aspects(["北京市朝阳区建国路88号3栋"] * 10)["personal"] == "address"
    assert "personal" not in aspects(["北京市华兴科技有限公司"] * 10)


def test_a_dictionary_term_that_is_business_data_outweighs_an_address_shape() -> None:
    values = ["北京市朝阳区建国路88号"] * 10
    col = check("zcdz", values, 100, DEFAULT)
    assert not col.personal and col.level == "internal"
    assert any("not personal" in r for r in col.reasons)


def test_personal_information_is_never_suggested_below_sensitive() -> None:
    col = check("lxdh", [], 20, DEFAULT)
    assert col.personal and col.level is Level.SENSITIVE and col.title_source == "dictionary"


GENERATORS = [_citizen_id, _clean_citizen_id, _credit_code, _name, _email, _bank_card]
realistic = st.builds(
    lambda i, seed: GENERATORS[i](random.Random(seed), 0) or "",
    st.integers(0, len(GENERATORS) - 1),
    st.integers(0, 10**6),
)
legacy_text = st.one_of(
    realistic, st.text(max_size=40), st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(legacy_text, max_size=40), st.sampled_from(["xm", "sfzh", "xb", "zz", "x"]))
def test_fuzz_detectors_never_raise_and_never_quote_a_value(values: list[str], name: str) -> None:
    col = check(name, values, 40, DEFAULT)
    assert col.level >= Level.INTERNAL
    if col.personal:
        assert col.level is Level.SENSITIVE
    text = " ".join(col.reasons)
    for value in values:
        # 8+ characters: long enough that only a leak, not chance, puts it in a reason
        if len(value.strip()) >= 8:
            assert value.strip() not in text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.from_regex(r"[0-9Xx０-９]{15,19}", fullmatch=True), min_size=1, max_size=30))
def test_fuzz_identity_shares_are_counts_of_the_sample(values: list[str]) -> None:
    for f in findings(values):
        if f.aspect == "identity":
            hits, total = f.reason.split(" sampled")[0].split(" of ")
            assert int(total) == len(values) and int(hits) >= 0.6 * len(values)


# --- the hooks ------------------------------------------------------------------------------------


class PlateDetector:
    name = "licence_plate"

    def detect(self, column: ColumnEvidence):  # type: ignore[no-untyped-def]
        hits = sum(1 for v in column.values if v.startswith("京A"))
        if column.values and hits == len(column.values):
            yield Finding(
                "personal", "licence_plate", f"{hits} of {len(column.values)} are plates."
            )


class Broken:
    name = "broken"

    def detect(self, column: ColumnEvidence):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"secret {column.values[:1]}")


plugin = SimpleNamespace(
    discovery_dictionary=hookimpl(lambda: {"cph": Term("车牌号"), "xm": "姓名(本地)"}),
    register_detectors=hookimpl(lambda: [PlateDetector(), Broken()]),
    register_code_tables=hookimpl(
        lambda: [
            CodeTable(
                "marital",
                "婚姻状况",
                {"10": "未婚", "20": "已婚", "30": "丧偶", "40": "离婚", "90": "未说明"},
            )
        ]
    ),
    __name__="test_discovery_plugin",
)


def test_plugins_extend_the_dictionary_detectors_and_code_tables() -> None:
    reg = load_registry(plugins=[plugin], entry_points=False, config={})
    tools = toolkit(reg)
    dictionary = tools.dictionary
    assert dictionary.lookup("CPH") == Term("车牌号")
    assert dictionary.lookup("xm") == Term("姓名(本地)")  # later plugins override
    assert dictionary.lookup("gmsfhm") is not None  # built-ins stay
    col = check("cph", ["京A12345"] * 5, 10, tools)
    assert col.personal and col.kind == "licence_plate" and col.title == "车牌号"
    assert any("detector 'broken' failed (RuntimeError)" in r for r in col.reasons)
    assert not any("京A" in r for r in col.reasons)
    codes = check("hyzk", ["10", "20", "30", "40", "90"] * 4, 2, tools)
    assert codes.code_table == "marital"


# --- the layering rule -----------------------------------------------------------------------------

ALLOWED_TOP = {
    "_connector",
    "_registry",
    "_plugins",
    "hookspecs",
    "_export",
    "_config",
    "_exceptions",
    "_validation",
    "catalog",
    "discovery",
}


def _imports(path: Path) -> set[str]:
    """Top-level govconnect modules a file imports (``from ..x`` / ``govconnect.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 2 and node.module:
                found.add(node.module.split(".")[0])
            elif node.level == 2:
                found.update(a.name for a in node.names)
            elif node.level == 0 and node.module and node.module.startswith("govconnect."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(
                a.name.split(".")[1] for a in node.names if a.name.startswith("govconnect.")
            )
    return found


def test_discovery_imports_only_the_catalog_and_the_framework_modules() -> None:
    files = sorted((ROOT / "govconnect" / "discovery").glob("*.py"))
    assert files
    for path in files:
        forbidden = _imports(path) - ALLOWED_TOP
        assert not forbidden, f"{path.name} imports {sorted(forbidden)}"


# --- declared types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        (sa.CHAR(18), ("C", "str", 18)),
        (sa.String(5000), ("M", "str", 5000)),
        (sa.Text(), ("M", "str", None)),
        (sa.Integer(), ("I", "int", None)),
        (sa.SmallInteger(), ("I", "int", None)),
        (sa.Numeric(12, 2), ("N", "Decimal", 12)),
        (postgresql.MONEY(), ("Y", "Decimal", None)),
        (sa.Float(), ("F", "float", None)),
        (postgresql.DOUBLE_PRECISION(), ("B", "float", None)),
        (sa.Date(), ("D", "date", None)),
        (sa.DateTime(), ("T", "datetime", None)),
        (sa.Boolean(), ("L", "bool", None)),
        (sa.LargeBinary(), ("G", "bytes", None)),
        (postgresql.BYTEA(), ("G", "bytes", None)),
        (sa.JSON(), ("G", "Any", None)),
        (postgresql.INTERVAL(), ("C", "timedelta", None)),
        (sa.types.NullType(), ("C", "str", None)),  # SQLite's typeless columns
    ],
)
def test_declared_types_map_to_catalog_codes(
    type_: sa.types.TypeEngine[object], expected: tuple[str, str, int | None]
) -> None:
    code, python_type, length = catalog_type(type_)
    assert (code.value, python_type, length) == expected


def test_every_builtin_dictionary_entry_is_documented() -> None:
    doc = (ROOT / "docs" / "discovery.md").read_text(encoding="utf-8")
    appendix = doc.split("## Appendix: the built-in dictionary", 1)[1]
    for key, term in BUILTIN_TERMS.items():
        assert f"| `{key}` | {term.title} |" in appendix, key
