"""Declarative mappings from a case to the legacy input: each operation, and load-time checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from govconnect import (
    NATIONAL_CODE_TABLES,
    Case,
    Compute,
    Concat,
    Connector,
    Const,
    Department,
    From,
    InvalidInputError,
    LegacySystem,
    MappingContext,
    ServiceDefinitionError,
    apply_mapping,
    intake,
    target_fields,
)
from govconnect.cases.mapping import mapping_problems

CASE = {
    "case_id": "C-0001",
    "matter_code": "M1",
    "applicant": {
        "kind": "person",
        "name": "张三",
        "citizen_id": "11010519491231002x",
        "phone": "13800000000",
    },
    "form": {
        "gender": "男",
        "ethnicity": "回族",
        "birth_date": "1949-12-31",
        "fee": "12.345",
        "count": "7",
        "province": "河北省",
        "address": "河北省 石家庄市 长安区",
        "items": [{"name": "第一项"}],
    },
    "materials": [
        {"kind": "licence", "name": "户口簿", "licence_type": "HKB", "licence_no": "HKB-1"}
    ],
    "submitted_at": "2026-11-21T08:30:00",
    "channel": "window",
}


def ctx(**form: Any) -> MappingContext:
    data = {**CASE, "form": {**CASE["form"], **form}}
    return MappingContext.for_case(
        Case.model_validate(data),
        {t.name: t for t in NATIONAL_CODE_TABLES},
        {"reverse": lambda v, **_: str(v)[::-1], "boom": lambda v: 1 / 0},
    )


def one(expr: Any, **form: Any) -> Any:
    return apply_mapping({"x": expr}, ctx(**form))["x"]


def test_paths_rename_and_nest() -> None:
    assert one(From("applicant.name")) == "张三"
    assert one(From("applicant.citizen_id")) == "11010519491231002X"
    assert one(From("form.items.0.name")) == "第一项"
    assert one(From("materials.0.licence_no")) == "HKB-1"
    assert one(From("submitted_at")) == datetime(2026, 11, 21, 8, 30)


def test_dates() -> None:
    assert one(From("form.birth_date").date("%Y%m%d")) == "19491231"
    assert one(From("submitted_at").date("%Y-%m-%d %H:%M")) == "2026-11-21 08:30"
    assert one(From("form.birth_date").date("%Y年%m月%d日")) == "1949年12月31日"


def test_numbers_and_formats() -> None:
    assert one(From("form.fee").number(2)) == Decimal("12.34")
    assert one(From("form.count").number(0)) == 7
    assert one(From("form.count").number(0).format("05d")) == "00007"
    assert one(From("form.fee").number()) == Decimal("12.345")


def test_code_tables_both_ways() -> None:
    assert one(From("form.gender").code("gender")) == "1"
    assert one(From("form.ethnicity").code("ethnicity")) == "03"
    assert one(From("form.gender").code("gender").label("gender")) == "男"
    assert one(From("form.gender").code("gender"), gender="female") == "2"


def test_concat_split_slice_strip_upper() -> None:
    assert one(Concat(From("form.province"), Const("-"), From("applicant.name"))) == "河北省-张三"
    assert (
        one(Concat(From("form.province"), From("form.missing", required=False), sep="/"))
        == "河北省"
    )
    assert one(From("form.address").split(" ", 1)) == "石家庄市"
    assert one(From("applicant.citizen_id").slice(0, 6)) == "110105"
    assert one(From("form.padded").strip().upper(), padded="  ab ") == "AB"


def test_constants_defaults_and_optional() -> None:
    assert one(Const("一窗受理")) == "一窗受理"
    assert one(From("form.missing").default("默认")) == "默认"
    assert one(From("form.empty").default("默认"), empty="") == "默认"
    assert one(From("form.missing", required=False)) is None


def test_python_hook_and_plugin_transforms() -> None:
    assert one(Compute(lambda case: len(case.materials))) == 1
    assert one(Compute(lambda case: case.applicant.citizen_id.birth_date)) == date(1949, 12, 31)
    assert one(From("applicant.name").transform("reverse")) == "三张"


@pytest.mark.parametrize(
    ("expr", "form", "rule"),
    [
        (From("form.nope"), {}, "required"),
        (From("form.province").date(), {}, "date"),
        (From("form.province").number(2), {}, "number"),
        (From("form.count").number(0).format("%"), {"count": "x"}, "number"),
        (From("form.gender").code("gender"), {"gender": "其他"}, "code_table"),
        (From("form.gender").code("nope"), {}, "code_table.unknown"),
        (From("form.address").split(",", 3), {}, "split"),
        (From("form.province").transform("nope"), {}, "transform.unknown"),
        (From("form.province").transform("boom"), {}, "transform"),
        (Compute(lambda case: case.nope), {}, "compute"),
    ],
)
def test_failures_name_field_source_and_rule(expr: Any, form: dict[str, Any], rule: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        apply_mapping({"target_field": expr}, ctx(**form))
    (problem,) = info.value.problems
    assert problem.field == "mapping.target_field"
    assert problem.rule == rule


def test_every_failing_field_is_reported_at_once() -> None:
    with pytest.raises(InvalidInputError) as info:
        apply_mapping(
            {"a": From("form.nope"), "b": From("form.province").date(), "c": Const(1)}, ctx()
        )
    assert [p.field for p in info.value.problems] == ["mapping.a", "mapping.b"]


class LegacyInput(BaseModel):
    xm: str
    sfzh: str
    bz: str | None = None


def test_load_time_checks_name_both_sides() -> None:
    problems = mapping_problems(
        {"xm": From("applicant.name"), "nosuch": From("form.x"), "bz": From("form.g").code("nope")},
        target_fields(LegacyInput),
        where="people.apply.mapping",
        target_name="LegacyInput",
        code_tables={},
    )
    found = {(p.field, p.rule) for p in problems}
    assert found == {
        ("people.apply.mapping.nosuch", "mapping.unknown_target"),
        ("people.apply.mapping.sfzh", "mapping.required_unmapped"),
        ("people.apply.mapping.bz", "mapping.unknown_code_table"),
    }
    unknown = next(p for p in problems if p.rule == "mapping.unknown_target")
    assert (
        "'nosuch'" in unknown.message
        and "LegacyInput" in unknown.message
        and "form.x" in unknown.message
    )


def test_target_fields_from_each_kind_of_target() -> None:
    table = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("a", sa.String, nullable=False),
        sa.Column("b", sa.String, nullable=True),
        sa.Column("c", sa.String, nullable=False, server_default="x"),
    )
    assert target_fields(table) == {"id": False, "a": True, "b": False, "c": False}
    assert target_fields(LegacyInput) == {"xm": True, "sfzh": True, "bz": False}
    assert target_fields(["a", "b"]) == {"a": True, "b": True}
    with pytest.raises(TypeError):
        target_fields(42)


def test_connector_with_a_bad_mapping_does_not_load() -> None:
    class Office(Connector):
        name = "office"
        department = Department(code="D1", name="部门")
        system = LegacySystem(code="S1", name="系统")

        @intake(
            matter_code="M1",
            name="申请",
            target=LegacyInput,
            mapping={"xm": From("applicant.name"), "zz": Const(1)},
        )
        def apply(self) -> Iterator[Any]:
            raise AssertionError("never built")

    with pytest.raises(ServiceDefinitionError) as info:
        Office.services()
    rules = {(p.field, p.rule) for p in info.value.problems}
    assert rules == {
        ("office.apply.mapping.zz", "mapping.unknown_target"),
        ("office.apply.mapping.sfzh", "mapping.required_unmapped"),
    }
