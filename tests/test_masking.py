"""Masking rules for personal information the gateway applies (and the conformance kit checks)."""

from __future__ import annotations

from datetime import date

import pytest

from govconnect import CitizenId, CreditCode
from govconnect.gateway.masking import masker_for


@pytest.mark.parametrize(
    ("name", "title", "annotation", "value", "expected"),
    [
        ("citizen_id", "公民身份号码", CitizenId, "11010519491231002X", "110105********002X"),
        ("code", "统一社会信用代码", CreditCode, "91350100M000100Y43", "9135**********0Y43"),
        ("name", "姓名", str, "欧阳娜娜", "欧**"),
        ("phone", "手机", str, "13812345678", "138****5678"),
        ("phone", "电话", str, "65123456", "***********"),  # a landline is masked whole
        ("born", "出生日期", date, date(1949, 12, 31), "1949-**-**"),
        ("address", "住址", str, "北京市朝阳区建国路1号", "北京市朝阳区********"),
        ("address", "住址", str, "朝阳区1号", "**************"),
        ("note", "备注", str, "secret", "****"),
    ],
)
def test_each_kind_of_personal_value(
    name: str, title: str, annotation: type, value: object, expected: str
) -> None:
    assert masker_for(name, title, annotation)(value) == expected


def test_none_stays_none() -> None:
    assert masker_for("phone", "电话", str)(None) is None


@pytest.mark.parametrize(
    ("name", "title", "annotation", "short", "long"),
    [
        ("name", "姓名", str, "王五", "欧阳娜娜娜娜"),
        ("phone", "电话", str, "110", "13812345678"),
        ("phone", "电话", str, "13812345678", "+8613812345678"),
        ("born", "出生日期", str, "1949-12-31", "1949-12-31T08:00:00+08:00"),
        ("address", "住址", str, "北京", "北京市朝阳区建国路1号院2号楼3单元401室"),
        ("address", "住址", str, "北京市朝阳区建国路", "北京市朝阳区建国路1号院2号楼3单元401室"),
        ("note", "备注", str, "x", "a much longer secret note"),
    ],
)
def test_a_masked_value_does_not_tell_the_original_length(
    name: str, title: str, annotation: type, short: str, long: str
) -> None:
    masker = masker_for(name, title, annotation)
    assert len(masker(short)) == len(masker(long))
