"""The masking table in docs/gateway.md is the masks' own output: each documented example is
rendered through ``mask_value`` from an original value, and each documented length is checked on a
short and a long original, so the table cannot drift from ``govconnect/gateway/masking.py`` again."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from govconnect import CitizenId, CreditCode
from govconnect.gateway.masking import mask_value

DOC = Path(__file__).resolve().parent.parent / "docs" / "gateway.md"


class _Service:
    """Just enough of a ``Service`` for ``mask_value``: the record model."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.record_model = model


class Person(BaseModel):
    citizen_id: CitizenId
    credit_code: CreditCode
    phone: str = Field(title="联系电话")
    name: str = Field(title="姓名")
    birth_date: date
    address: str = Field(title="住址")
    income: str = Field(title="月收入")


SERVICE = _Service(Person)

# Documented row (its first words) → field, and originals whose masks the row shows in order.
ROWS: dict[str, tuple[str, list[str]]] = {
    "`CitizenId`": ("citizen_id", ["11010519491231002X"]),
    "`CreditCode`": ("credit_code", ["91350100M000100Y43"]),
    "phone": ("phone", ["13812345678", "65001234"]),
    "name": ("name", ["欧阳娜娜", "欧"]),
    "date": ("birth_date", ["1949-10-01"]),
    "address": ("address", ["北京市朝阳区建国路88号", "朝阳区某路"]),
    "anything else": ("income", ["12000"]),
}


def _table() -> dict[str, tuple[list[str], int]]:
    """Rows of the ``| item | masked as | length |`` table: examples in backticks and length."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("| item | masked as | length |")
    rows: dict[str, tuple[list[str], int]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        item, masked_as, length = (c.strip() for c in line.strip("|").split("|"))
        key = next(k for k in ROWS if item.startswith(k))
        # Backticked values that are masks (hold a '*'), not function names.
        examples = [e for e in re.findall(r"`([^`]+)`", masked_as) if "*" in e]
        rows[key] = (examples, int(length))
    return rows


def test_every_mask_kind_is_documented() -> None:
    assert set(_table()) == set(ROWS)


@pytest.mark.parametrize("row", sorted(ROWS))
def test_documented_example_is_what_mask_value_returns(row: str) -> None:
    examples, length = _table()[row]
    field, originals = ROWS[row]
    masked = [mask_value(SERVICE, field, v) for v in originals]  # type: ignore[arg-type]
    assert masked == examples, f"docs/gateway.md row {row!r}"
    assert all(len(m) == length for m in masked), f"docs/gateway.md row {row!r}: length"
