"""Drafted catalog values: declared with ``drafts=``, kept in the catalog document, listed by
``catalog show``, refused when registering with the platform; and the pieces the drafted
projects lean on (text dates, synthetic values, the answers check)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

from govconnect import (
    CatalogValidationError,
    CitizenId,
    Connector,
    Department,
    InvalidInputError,
    LegacySystem,
    Level,
    Record,
    Resource,
    ServiceDefinitionError,
    TextDate,
    TextDateTime,
    dataset,
    field,
)
from govconnect.catalog.model import drafted_values, refuse_drafts, resource_problems
from govconnect.cli import app, build
from govconnect.cli._scaffold import checked_answers, identifier
from govconnect.testing import SYNTHETIC_KINDS, synthetic_value


class Row(Record):
    citizen_id: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
    djrq: TextDate = field("djrq", level=Level.INTERNAL)


def _connector(drafts: list[str]) -> type[Connector]:
    class Drafted(Connector):
        name = "drafted"
        department = Department(code="DEPT01", name="测试局")
        system = LegacySystem(code="SYS01", name="测试系统")

        @dataset(
            code="399999001/0001",
            name="草稿",
            abstract="草稿",
            sharing="conditional",
            conditions="草稿：待定",
            update_cycle="daily",
            published="2026-12-01",
            key="citizen_id",
            drafts=drafts,
        )
        def rows(self) -> Iterator[Row]:
            yield from ()

    return Drafted


def _resource(drafts: list[str]) -> Resource:
    [svc] = _connector(drafts).services().values()
    return svc.resource


def test_drafts_reach_the_catalog_entry_and_its_document() -> None:
    resource = _resource(["code", "sharing.type", "items.djrq.title"])
    assert resource.drafts == ["code", "sharing.type", "items.djrq.title"]
    assert drafted_values(resource) == [
        ("code", "399999001/0001"),
        ("sharing.type", "conditional"),
        ("items.djrq.title", "djrq"),
    ]
    document = resource.model_dump(mode="json")
    assert document["drafts"] == ["code", "sharing.type", "items.djrq.title"]
    again = Resource.model_validate_json(resource.model_dump_json(exclude={"category"}))
    assert again == resource


def test_a_decided_resource_is_exported_as_before() -> None:
    assert "drafts" not in _resource([]).model_dump(mode="json")


def test_an_unknown_draft_path_is_a_declaration_error_naming_it() -> None:
    with pytest.raises(ServiceDefinitionError) as info:
        _connector(["sharing.kind", "items.nope.title"]).services()
    text = str(info.value)
    assert "sharing.kind" in text and "items.nope.title" in text and "drafts.unknown" in text
    assert len(resource_problems(_resource(["open.public"]))) == 0


def test_registering_drafts_is_refused_naming_every_field() -> None:
    with pytest.raises(CatalogValidationError) as info:
        refuse_drafts([_resource(["code", "open.public"])])
    fields = [p.field for p in info.value.problems]
    assert fields == ["resources[399999001/0001].code", "resources[399999001/0001].open.public"]
    assert {p.rule for p in info.value.problems} == {"drafts.undecided"}
    refuse_drafts([_resource([])])  # nothing drafted: nothing refused


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("19850312", date(1985, 3, 12)),
        ("1985-03-12", date(1985, 3, 12)),
        ("1985/3/12", date(1985, 3, 12)),
        ("1985年3月12日", date(1985, 3, 12)),
        ("1985-03-12 08:30:00", date(1985, 3, 12)),
    ],
)
def test_text_dates_read_every_spelling_discovery_recognises(text: str, expected: date) -> None:
    class M(BaseModel):
        day: TextDate
        moment: TextDateTime

    m = M(day=text, moment=text)
    assert m.day == expected
    assert m.moment.date() == expected


def test_a_malformed_text_date_is_refused_by_validation() -> None:
    class M(BaseModel):
        day: TextDate

    with pytest.raises(ValidationError):
        M(day="19851332")


def test_synthetic_values_fit_their_column_and_stay_distinct() -> None:
    for kind in SYNTHETIC_KINDS:
        values = [synthetic_value(kind, i, 18) for i in range(20)]
        assert all(not isinstance(v, str) or len(v) <= 18 for v in values), kind
    ids = {synthetic_value("citizen_id", i) for i in range(50)}
    assert len(ids) == 50 and all(CitizenId.parse(v) for v in ids)
    assert synthetic_value("text", 7, 2) == "07"
    assert synthetic_value("date_text", 0, 8) == "19800101"
    assert isinstance(synthetic_value("decimal", 1), Decimal)
    assert isinstance(synthetic_value("datetime", 1), datetime)


def test_legacy_names_become_identifiers() -> None:
    taken: set[str] = set()
    assert identifier("GMSFHM", taken, "f1") == "gmsfhm"
    assert identifier("ip dz", taken, "f2") == "ip_dz"
    assert identifier("姓名", taken, "field_3") == "field_3"
    assert identifier("class", taken, "f4") == "class_"
    assert identifier("schema", taken, "f5") == "schema_"
    assert identifier("gmsfhm", taken, "f6") == "gmsfhm_2"


def test_from_db_refuses_the_same_answers_as_the_template() -> None:
    with pytest.raises(InvalidInputError) as info:
        checked_answers({"connector_name": "Bad-Name", "department_code": "!"})
    assert {"connector_name", "department_code"} <= {p.field for p in info.value.problems}


def test_new_from_db_errors_are_one_line_naming_what_failed(tmp_path: Path) -> None:
    build()
    runner = CliRunner()
    missing = tmp_path / "nope.sqlite"
    result = runner.invoke(
        app, ["new", "connector", "--from-db", f"sqlite:///{missing}", "-o", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert str(missing) in result.output and "Traceback" not in result.output
    usage = runner.invoke(app, ["new", "connector", "--table", "rk_jbxx", "-o", str(tmp_path)])
    assert usage.exit_code == 2 and "--from-db" in usage.output
    assert not list(tmp_path.glob("govconnect-*"))
