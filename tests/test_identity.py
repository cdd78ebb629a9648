"""Identity types: citizen ID numbers (GB 11643) and unified social credit codes (GB 32100)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from govconnect import (
    CitizenId,
    CreditCode,
    IdentityError,
    InvalidInputError,
    citizen_id_check_char,
    credit_code_check_char,
    mask,
    mask_citizen_id,
    mask_credit_code,
    organization_code_check_char,
    validate_model,
)

VALID_IDS = ["11010519491231002X", "110105194806110593"]
VALID_CODES = ["91350100M000100Y43", "91110000802100433B"]


@pytest.mark.parametrize("value", VALID_IDS)
def test_valid_citizen_ids_pass(value: str) -> None:
    assert CitizenId.parse(value) == value


def test_citizen_id_is_normalised() -> None:
    assert CitizenId.parse("  11010519491231002x ") == "11010519491231002X"
    assert CitizenId.parse("１１０１０５１９４９１２３１００２Ｘ") == "11010519491231002X"


def test_citizen_id_parts() -> None:
    cid = CitizenId.parse("11010519491231002X")
    assert cid.region_code == "110105"
    assert cid.birth_date.isoformat() == "1949-12-31"
    assert cid.gender_code == "2"  # sequence 002 is even


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("11010519491231002", "length"),
        ("11010519491231002XX", "length"),
        ("1101051949123100AX", "charset"),
        ("11010519491231002Y", "charset"),
        ("110105194902300020", "birth_date"),  # 30 February
        ("110105179901010020", "birth_date"),  # before 1800
        ("110105299901010020", "birth_date"),  # in the future
        ("110105194912310021", "check_digit"),
    ],
)
def test_citizen_id_failures_name_the_rule(value: str, rule: str) -> None:
    with pytest.raises(IdentityError) as info:
        CitizenId.parse(value)
    assert info.value.rule == rule
    assert rule in str(info.value)
    assert isinstance(info.value, InvalidInputError)


def test_citizen_id_rejects_non_strings() -> None:
    with pytest.raises(IdentityError) as info:
        CitizenId.parse(11010519491231002)
    assert info.value.rule == "type"


def test_check_char_matches_published_example() -> None:
    assert citizen_id_check_char("11010519491231002") == "X"


@pytest.mark.parametrize("value", VALID_CODES)
def test_valid_credit_codes_pass(value: str) -> None:
    assert CreditCode.parse(value) == value


def test_credit_code_parts_and_normalisation() -> None:
    code = CreditCode.parse(" ９１３５０１００m０００１００y４３ ")
    assert code == "91350100M000100Y43"
    assert code.registration_authority == "9"
    assert code.entity_type == "1"
    assert code.district_code == "350100"
    assert code.organization_code == "M000100Y4"


def test_organisation_code_check_char() -> None:
    assert organization_code_check_char("M000100Y") == "4"
    assert organization_code_check_char("80210043") == "3"


def _with_valid_checks(first16: str) -> str:
    first17 = first16 + organization_code_check_char(first16[8:16])
    return first17 + credit_code_check_char(first17)


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("91350100M000100Y4", "length"),
        ("91350100M000100I43", "charset"),  # I is not in the alphabet
        ("91350100O000100Y43", "charset"),  # neither is O
        (_with_valid_checks("0135010080210043"), "registration_authority"),
        (_with_valid_checks("9035010080210043"), "entity_type"),
        (_with_valid_checks("9A35010080210043"), "entity_type"),  # category codes are digits
        (_with_valid_checks("9135A10080210043"), "district_code"),
        ("91350100M000100Y53", "organization_code_check_digit"),
        ("91350100M000100Y44", "check_digit"),
    ],
)
def test_credit_code_failures_name_the_rule(value: str, rule: str) -> None:
    with pytest.raises(IdentityError) as info:
        CreditCode.parse(value)
    assert info.value.rule == rule


def test_letter_registration_authority_is_accepted() -> None:
    code = _with_valid_checks("N135010080210043")
    assert CreditCode.parse(code).registration_authority == "N"


class Applicant(BaseModel):
    citizen_id: CitizenId
    company: CreditCode | None = None


def test_identity_types_are_pydantic_field_types() -> None:
    a = Applicant(citizen_id="11010519491231002x", company="91110000802100433B")
    assert isinstance(a.citizen_id, CitizenId)
    assert a.model_dump(mode="json") == {
        "citizen_id": "11010519491231002X",
        "company": "91110000802100433B",
    }
    schema = Applicant.model_json_schema()["properties"]["citizen_id"]
    assert schema["minLength"] == schema["maxLength"] == 18


def test_pydantic_error_carries_the_rule() -> None:
    with pytest.raises(ValidationError, match="check_digit"):
        Applicant(citizen_id="110105194912310021")
    with pytest.raises(InvalidInputError) as info:
        validate_model(Applicant, {"citizen_id": "110105194912310021"})
    (problem,) = info.value.problems
    assert problem.field == "citizen_id"
    assert problem.rule == "citizen_id.check_digit"


def test_masking() -> None:
    assert mask_citizen_id("11010519491231002X") == "110105********002X"
    assert mask_credit_code("91350100M000100Y43") == "9135**********0Y43"
    assert CitizenId.parse("11010519491231002X").masked() == "110105********002X"
    assert mask("张三", 1, 0) == "张*"
    assert mask("王", 1, 1) == "*"
    assert mask("", 1, 1) == ""
    assert mask("13812345678", 3, 4) == "138****5678"
