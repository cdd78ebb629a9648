"""The vendor's client and the connector against a faked legacy API.

``legacy_http`` comes with govconnect's pytest plugin: a ``responses`` mock that answers every
``requests`` call, so the vendor's client runs unchanged and no test reaches a real system.
(A legacy client built on httpx would be given an ``httpx.Client(transport=httpx.MockTransport(...))``
instead.)
"""

from __future__ import annotations

import pytest
import requests
import responses
from govconnect import InvalidInputError, RetryableError

from {{ cookiecutter.__package_name }} import {{ cookiecutter.__class_name }}
from {{ cookiecutter.__package_name }}.client import LegacyClient, LegacySystemError
from {{ cookiecutter.__package_name }}.sample import SAMPLE_BASE_URL, register_sample_answers
from {{ cookiecutter.__package_name }}.sample_data import MATTER_CODE, SAMPLE_CITIZEN_ID


def test_client_reads_a_person(legacy_http: responses.RequestsMock) -> None:
    register_sample_answers(legacy_http)
    row = LegacyClient(SAMPLE_BASE_URL).person(SAMPLE_CITIZEN_ID)
    assert row is not None
    assert row["sfzh"] == SAMPLE_CITIZEN_ID


def test_unknown_person_is_none(legacy_http: responses.RequestsMock) -> None:
    register_sample_answers(legacy_http)
    assert LegacyClient(SAMPLE_BASE_URL).person("11010519491231002X") is None


def test_server_error_is_a_legacy_system_error(legacy_http: responses.RequestsMock) -> None:
    legacy_http.get(f"{SAMPLE_BASE_URL}/people/{SAMPLE_CITIZEN_ID}", status=500)
    with pytest.raises(LegacySystemError, match="answered 500"):
        LegacyClient(SAMPLE_BASE_URL).person(SAMPLE_CITIZEN_ID)


def test_unreachable_system_is_a_legacy_system_error(legacy_http: responses.RequestsMock) -> None:
    legacy_http.get(
        f"{SAMPLE_BASE_URL}/people/{SAMPLE_CITIZEN_ID}", body=requests.ConnectTimeout("timed out")
    )
    with pytest.raises(LegacySystemError, match="unreachable"):
        LegacyClient(SAMPLE_BASE_URL).person(SAMPLE_CITIZEN_ID)


def test_connector_maps_the_legacy_record(legacy_http: responses.RequestsMock) -> None:
    register_sample_answers(legacy_http)
    with {{ cookiecutter.__class_name }}({"base_url": SAMPLE_BASE_URL}) as connector:
        [person] = connector.run("person", {"citizen_id": SAMPLE_CITIZEN_ID})
    assert person.citizen_id == SAMPLE_CITIZEN_ID
    assert person.registered_on.year == 2020


def test_invalid_citizen_id_never_reaches_the_legacy_system(
    legacy_http: responses.RequestsMock,
) -> None:
    with (
        {{ cookiecutter.__class_name }}({"base_url": SAMPLE_BASE_URL}) as connector,
        pytest.raises(InvalidInputError),
    ):
        list(connector.run("person", {"citizen_id": "110105194912310021"}))
    assert len(legacy_http.calls) == 0


def test_intake_passes_the_application_once(legacy_http: responses.RequestsMock) -> None:
    register_sample_answers(legacy_http)
    values = {
        "sqbh": "SQ1",
        "sfzh": SAMPLE_CITIZEN_ID,
        "xm": "张伟",
        "sqsj": "20260105",
        "ly": "一窗",
    }
    with {{ cookiecutter.__class_name }}({"base_url": SAMPLE_BASE_URL}) as connector:
        sink = connector.intake_handlers()[MATTER_CODE].sink(connector)
        first = sink.write("SQ1", values)
        again = sink.write("SQ1", values)
    assert (first.applied, again.applied) == (True, False)
    assert first.reference == again.reference


def test_legacy_api_down_defers_the_application(legacy_http: responses.RequestsMock) -> None:
    legacy_http.post(f"{SAMPLE_BASE_URL}/applications", status=503)
    with {{ cookiecutter.__class_name }}({"base_url": SAMPLE_BASE_URL}) as connector:
        sink = connector.intake_handlers()[MATTER_CODE].sink(connector)
        with pytest.raises(RetryableError):
            sink.write("SQ1", {"sqbh": "SQ1"})
