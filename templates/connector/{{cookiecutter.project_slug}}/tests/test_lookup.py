"""The ``person`` lookup on the sample legacy system: finds the sample person and nobody else, and
refuses a malformed citizen ID before the legacy system is asked."""

from __future__ import annotations

import pytest
from govconnect import Connector, InvalidInputError

from {{ cookiecutter.__package_name }}.sample_data import SAMPLE_CITIZEN_ID


def test_lookup_finds_the_sample_person(connector: Connector) -> None:
    [person] = connector.run("person", {"citizen_id": SAMPLE_CITIZEN_ID})
    assert person.citizen_id == SAMPLE_CITIZEN_ID


def test_unknown_person_yields_nothing(connector: Connector) -> None:
    assert list(connector.run("person", {"citizen_id": "11010519491231002X"})) == []


def test_invalid_citizen_id_is_refused_before_the_legacy_system(connector: Connector) -> None:
    with pytest.raises(InvalidInputError) as info:
        list(connector.run("person", {"citizen_id": "110105194912310021"}))
    assert info.value.problems[0].field == "params.citizen_id"
