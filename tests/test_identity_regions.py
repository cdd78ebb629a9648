"""Address codes: the province part always, GB/T 2260 with history when a field asks for it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from govconnect import (
    CitizenId,
    CitizenIdRules,
    IdentityError,
    RegionCheck,
    citizen_id_check_char,
    region_status,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "govconnect" / "catalog" / "identity" / "gbt2260.txt"
KNOWN = CitizenIdRules(regions=RegionCheck.KNOWN)
CURRENT = CitizenIdRules(regions=RegionCheck.CURRENT)


def number(region: str, born: str = "19800101") -> str:
    first17 = f"{region}{born}001"
    return first17 + citizen_id_check_char(first17)


def rule(value: str, rules: CitizenIdRules = CitizenIdRules()) -> str | None:
    try:
        CitizenId.parse(value, rules=rules)
    except IdentityError as exc:
        return exc.rule
    return None


@pytest.mark.parametrize("province", ["00", "10", "16", "20", "39", "47", "55", "66", "72", "90"])
def test_the_province_part_is_always_checked(province: str) -> None:
    assert rule(number(f"{province}0101")) == "address_code"


def test_by_default_the_rest_of_the_code_is_not_checked() -> None:
    """A legacy table's numbers must not fail on a code table we might lack: opt in per field."""
    assert rule(number("119999")) is None
    assert rule(number("119999"), KNOWN) == "address_code"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("110105", "current"),  # 朝阳区
        ("110103", "historical"),  # 崇文区, merged into 东城区 in 2010
        ("460300", "current"),  # 三沙市 (2012): python-stdnum rejects people born before 2012
        ("532901", "current"),  # 大理市: python-stdnum rejects people born before 1983
        ("500238", "current"),  # 巫溪县: python-stdnum rejects people born before 1997
        ("810000", "current"),
        ("830000", "current"),  # Taiwan residents' permits: missing from python-stdnum
        ("119999", None),
    ],
)
def test_gbt2260_status_including_history(code: str, status: str | None) -> None:
    assert region_status(code) == status


def test_historical_codes_stay_valid_under_known_but_not_current() -> None:
    """People keep the number issued under an abolished county code."""
    old = number("110103", "19650101")
    assert rule(old, KNOWN) is None
    assert rule(old, CURRENT) == "address_code"


@pytest.mark.parametrize("code", ["460300", "532901", "500238"])
def test_no_birth_year_window_on_the_code(code: str) -> None:
    """A county created after someone's birth still appears on the numbers of people who
    registered there later (everyone got an 18-digit number in 1999)."""
    assert rule(number(code, "19500101"), KNOWN) is None


def test_a_field_selects_the_strictness() -> None:
    class Form(BaseModel):
        citizen_id: Annotated[CitizenId, KNOWN]

    assert Form(citizen_id=number("110103")).citizen_id == number("110103")
    with pytest.raises(ValidationError, match="address_code"):
        Form(citizen_id=number("119999"))


def test_the_data_file_states_its_source_date_and_terms() -> None:
    head = [line for line in DATA.read_text(encoding="utf-8").splitlines() if line[:1] == "#"]
    text = "\n".join(head)
    for words in ("Source:", "python-stdnum", "Derived:", "Terms:", "LGPL", "830000"):
        assert words in text


def test_the_data_file_is_what_the_generator_derives_from_the_installed_stdnum() -> None:
    """The shipped codes are reproducible from their stated source, so they cannot drift."""
    pytest.importorskip("stdnum")
    spec = importlib.util.spec_from_file_location(
        "gbt2260_from_stdnum", ROOT / "tools" / "gbt2260_from_stdnum.py"
    )
    assert spec and spec.loader
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert DATA.read_text(encoding="utf-8") == tool.expected()
