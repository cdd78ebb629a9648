"""Behaviour of this connector beyond the standard checks: lookups that find nobody, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from govconnect import ConfigurationError, Connector, InvalidInputError

from {{ cookiecutter.__package_name }} import {{ cookiecutter.__class_name }}
from {{ cookiecutter.__package_name }}.sample import (
    ENCODING,
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


def test_invalid_citizen_id_is_refused_before_any_file_is_read(connector: Connector) -> None:
    with pytest.raises(InvalidInputError) as info:
        list(connector.run("person", {"citizen_id": "110105194912310021"}))
    assert info.value.problems[0].field == "params.citizen_id"


def test_missing_drop_folder_is_a_configuration_error(tmp_path: Path) -> None:
    settings = {"drop_dir": str(tmp_path / "absent")}
    with (
        {{ cookiecutter.__class_name }}(settings) as conn,
        pytest.raises(ConfigurationError, match="does not exist"),
    ):
        list(conn.run("person", {"citizen_id": SAMPLE_CITIZEN_ID}))


def test_intake_drops_one_file_per_application(connector: Connector) -> None:
    sink = connector.intake_handlers()[MATTER_CODE].sink(connector)
    values = {
        "sqbh": "SQ1",
        "sfzh": SAMPLE_CITIZEN_ID,
        "xm": "张伟",
        "sqsj": "20260105",
        "ly": "一窗",
    }
    assert sink.write("SQ1", values).applied is True
    assert sink.write("SQ1", values).applied is False
    text = (connector.settings.inbox_dir / "SQ_SQ1.csv").read_text(encoding=ENCODING)
    assert text.splitlines()[1].startswith("SQ1,")
