"""Behaviour of this connector beyond the standard checks: lookups that find nobody, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from govconnect import Connector, InvalidInputError

from {{ cookiecutter.__package_name }} import {{ cookiecutter.__class_name }}
from {{ cookiecutter.__package_name }}.sample import (
    MATTER_CODE,
    SAMPLE_CITIZEN_ID,
    sample_legacy_system,
)


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[Connector]:
    with {{ cookiecutter.__class_name }}(sample_legacy_system(tmp_path)) as conn:
        yield conn


def test_lookup_finds_the_sample_person(connector: Connector) -> None:
    [person] = connector.run("person", {"citizen_id": SAMPLE_CITIZEN_ID})
    assert person.citizen_id == SAMPLE_CITIZEN_ID


def test_unknown_person_yields_nothing(connector: Connector) -> None:
    assert list(connector.run("person", {"citizen_id": "11010519491231002X"})) == []


def test_invalid_citizen_id_is_refused_before_the_legacy_system(connector: Connector) -> None:
    with pytest.raises(InvalidInputError) as info:
        list(connector.run("person", {"citizen_id": "110105194912310021"}))
    assert info.value.problems[0].field == "params.citizen_id"


def test_intake_writes_the_application_once(connector: Connector) -> None:
    handler = connector.intake_handlers()[MATTER_CODE]
    sink = handler.sink(connector)
    values = {"sfzh": SAMPLE_CITIZEN_ID, "xm": "张伟", "sqsj": "20260105093000", "ly": "一窗受理"}
    assert sink.write("SQ2026000009", values).applied is True
    assert sink.write("SQ2026000009", values).applied is False
