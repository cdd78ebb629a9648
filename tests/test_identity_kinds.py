"""Identity numbers as legacy systems hold them (issue 18): first-generation IDs, residence
permits, foreigners' permanent residence IDs, "any personal number", masks for every kind."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from govconnect import (
    CitizenId,
    CitizenIdRules,
    IdentityError,
    IdentityKind,
    LegacyCitizenId,
    Level,
    PermanentResidenceId,
    PersonalId,
    Record,
    citizen_id_check_char,
    field,
    information_items,
    load_registry,
    mask_citizen_id,
    mask_identity,
    mask_permanent_residence_id,
    upgrade_citizen_id,
    validate_model,
)


def with_check(first17: str) -> str:
    return first17 + citizen_id_check_char(first17)


FIRST_GENERATION = "110105491231002"  # the 18-digit 11010519491231002X before 1999
HONG_KONG = with_check("81000019900101001")
MACAO = with_check("82000019850505002")
TAIWAN = with_check("83000019700707003")
FOREIGNER_2023 = with_check("91115619800101001")  # Beijing, nationality 156-style code
FOREIGNER_2017 = "USA110180010112"  # nationality, authority 1101, born 800101, two digits

UPGRADE = CitizenIdRules(first_generation="upgrade")
ACCEPT = CitizenIdRules(first_generation="accept")


def rule_of(parse: object, value: object) -> str:
    with pytest.raises(IdentityError) as info:
        parse(value)  # type: ignore[operator]
    return info.value.rule


# --- first-generation 15-digit numbers ---------------------------------------------------------------


def test_first_generation_is_rejected_by_default() -> None:
    """A plain CitizenId field holds 18 digits only: accepting 15 is a decision the field makes."""
    assert rule_of(CitizenId.parse, FIRST_GENERATION) == "length"


def test_first_generation_is_upgraded_by_the_standard_rule() -> None:
    upgraded = CitizenId.parse(FIRST_GENERATION, rules=UPGRADE)
    assert upgraded == "11010519491231002X"  # insert 19, append the MOD 11-2 check
    assert upgraded.kind is IdentityKind.RESIDENT
    assert upgrade_citizen_id(FIRST_GENERATION) == "11010519491231002X"
    assert upgrade_citizen_id("11010519491231002X") == "11010519491231002X"


def test_first_generation_can_be_kept_as_given() -> None:
    kept = CitizenId.parse(" " + FIRST_GENERATION, rules=ACCEPT)
    assert kept == FIRST_GENERATION
    assert kept.kind is IdentityKind.FIRST_GENERATION
    assert kept.birth_date.isoformat() == "1949-12-31"  # YYMMDD read as 19YY
    assert kept.gender_code == "2"
    assert kept.region_code == "110105"
    assert kept.upgraded() == "11010519491231002X"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("11010549123100", "length"),
        ("11010549123100A", "charset"),
        ("990105491231002", "address_code"),  # 99 is no province
        ("810000491231002", "address_code"),  # permits were never 15 digits
        ("110105490230002", "birth_date"),  # 30 February 1949
        ("110105491331002", "birth_date"),  # month 13
    ],
)
def test_first_generation_failures_name_the_rule(value: str, rule: str) -> None:
    assert rule_of(lambda v: CitizenId.parse(v, rules=UPGRADE), value) == rule


class Resident(Record):
    strict: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
    legacy: LegacyCitizenId = field("公民身份号码(旧)", level=Level.SENSITIVE, personal=True)
    as_given: Annotated[CitizenId, ACCEPT] = field("原号码", level=Level.SENSITIVE, personal=True)


def test_a_record_field_says_whether_it_accepts_and_upgrades() -> None:
    row = Resident(strict="11010519491231002X", legacy=FIRST_GENERATION, as_given=FIRST_GENERATION)
    assert row.legacy == "11010519491231002X" and isinstance(row.legacy, CitizenId)
    assert row.as_given == FIRST_GENERATION and row.as_given.kind == "first_generation"
    with pytest.raises(ValidationError, match="length"):
        Resident(strict=FIRST_GENERATION, legacy=FIRST_GENERATION, as_given=FIRST_GENERATION)
    schema = Resident.model_json_schema()["properties"]
    assert (schema["legacy"]["minLength"], schema["as_given"]["minLength"]) == (18, 15)
    items, problems = information_items(Resident, "resident")
    assert not problems
    assert {(i.name, i.data_type, i.length) for i in items} == {
        ("strict", "C", 18),
        ("legacy", "C", 18),
        ("as_given", "C", 18),
    }


def test_rule_errors_reach_the_problem_list_with_the_field() -> None:
    with pytest.raises(Exception) as info:
        validate_model(Resident, {"strict": "11010519491231002X", "legacy": "990105491231002"})
    rules = {p.field: p.rule for p in info.value.problems}  # type: ignore[attr-defined]
    assert rules == {"legacy": "citizen_id.address_code", "as_given": "missing"}


def test_intake_mappings_upgrade_through_the_builtin_transform() -> None:
    registry = load_registry(entry_points=False, config={})
    assert registry.transforms["citizen_id_18"](FIRST_GENERATION) == "11010519491231002X"
    with pytest.raises(IdentityError):
        registry.transforms["citizen_id_18"]("110105490230002")


# --- residence permits for Hong Kong, Macao and Taiwan residents ----------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("11010519491231002X", IdentityKind.RESIDENT),
        (HONG_KONG, IdentityKind.HONG_KONG_PERMIT),
        (MACAO, IdentityKind.MACAO_PERMIT),
        (TAIWAN, IdentityKind.TAIWAN_PERMIT),
    ],
)
def test_permits_are_citizen_id_shaped_and_told_apart_by_kind(
    value: str, kind: IdentityKind
) -> None:
    cid = CitizenId.parse(value)
    assert cid.kind is kind
    assert cid.birth_date.year in (1949, 1990, 1985, 1970)


def test_permit_address_codes_are_fixed() -> None:
    """810000 is a permit; 810101 is nobody's number, whatever its check character."""
    assert rule_of(CitizenId.parse, with_check("81010119900101001")) == "address_code"


def test_a_field_can_refuse_permits() -> None:
    no_permits = CitizenIdRules(permits=False)
    assert rule_of(lambda v: CitizenId.parse(v, rules=no_permits), HONG_KONG) == "address_code"
    assert CitizenId.parse("11010519491231002X", rules=no_permits).kind == "resident"


# --- foreigners' permanent residence ID cards ----------------------------------------------------------


def test_the_2023_format() -> None:
    pr = PermanentResidenceId.parse(FOREIGNER_2023.lower())
    assert pr.kind is IdentityKind.PERMANENT_RESIDENCE
    assert (pr.province_code, pr.nationality_code) == ("11", "156")
    assert pr.birth_date.isoformat() == "1980-01-01"


def test_the_2017_format() -> None:
    pr = PermanentResidenceId.parse(" usa110180010112 ")
    assert pr == FOREIGNER_2017
    assert pr.kind is IdentityKind.PERMANENT_RESIDENCE_2017
    assert (pr.province_code, pr.nationality_code) == ("11", "USA")
    assert pr.birth_date.isoformat() == "1980-01-01"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("91115619800101001", "length"),
        ("811156198001010016", "charset"),  # a foreigner's 2023 number starts with 9
        ("9111561980010100A6", "charset"),
        (with_check("98115619800101001"), "address_code"),  # 81 is not a mainland province
        (with_check("91115619800230001"), "birth_date"),
        (with_check("91115630000101001"), "birth_date"),  # in the future
        (FOREIGNER_2023[:17] + ("0" if FOREIGNER_2023[17] != "0" else "1"), "check_digit"),
        ("US1110180010112", "charset"),
        ("USA990180010112", "address_code"),
        ("USA110180023012", "birth_date"),  # 30 February in any century
    ],
)
def test_permanent_residence_failures_name_the_rule(value: str, rule: str) -> None:
    assert rule_of(PermanentResidenceId.parse, value) == rule


# --- any personal identity number ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cls", "kind"),
    [
        ("11010519491231002X", CitizenId, IdentityKind.RESIDENT),
        (FIRST_GENERATION, CitizenId, IdentityKind.FIRST_GENERATION),
        (TAIWAN, CitizenId, IdentityKind.TAIWAN_PERMIT),
        (FOREIGNER_2023, PermanentResidenceId, IdentityKind.PERMANENT_RESIDENCE),
        (FOREIGNER_2017, PermanentResidenceId, IdentityKind.PERMANENT_RESIDENCE_2017),
    ],
)
def test_any_personal_number_carries_its_kind(value: str, cls: type, kind: IdentityKind) -> None:
    parsed = PersonalId.parse(value)
    assert type(parsed) is cls and parsed.kind is kind


class Application(BaseModel):
    applicant_id: PersonalId


def test_an_intake_form_takes_any_personal_number() -> None:
    for value in ("11010519491231002X", FIRST_GENERATION, MACAO, FOREIGNER_2023, FOREIGNER_2017):
        assert Application(applicant_id=value).model_dump(mode="json") == {"applicant_id": value}
    with pytest.raises(Exception) as info:
        validate_model(Application, {"applicant_id": "1234"})
    assert info.value.problems[0].rule == "personal_id.length"  # type: ignore[attr-defined]
    with pytest.raises(Exception) as info:
        validate_model(Application, {"applicant_id": FOREIGNER_2023[:-1] + "X"})
    assert info.value.problems[0].rule == "permanent_residence_id.check_digit"  # type: ignore[attr-defined]


# --- masks for every kind ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("11010519491231002X", "110105********002X"),
        (FIRST_GENERATION, "110105********1002"),
        (HONG_KONG, "810000********" + HONG_KONG[-4:]),
        (FOREIGNER_2023, "911156********" + FOREIGNER_2023[-4:]),
        (FOREIGNER_2017, "USA110********0112"),
    ],
)
def test_every_kind_is_masked_to_the_same_length(value: str, expected: str) -> None:
    """The birth date is never shown, and the mask's length does not tell the kinds apart."""
    assert mask_identity(value) == expected
    assert PersonalId.parse(value).masked() == expected
    assert len(expected) == 18


def test_the_kind_specific_masks_agree() -> None:
    assert mask_citizen_id(FIRST_GENERATION) == mask_identity(FIRST_GENERATION)
    assert mask_permanent_residence_id(FOREIGNER_2017) == "USA110********0112"
    assert mask_identity("12") == "*" * 18  # too short to keep anything
