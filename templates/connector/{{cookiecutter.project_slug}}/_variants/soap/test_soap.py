"""The connector against govconnect's SOAP fake: a real WebService on 127.0.0.1.

``soap_legacy_factory`` comes with govconnect's pytest plugin; the fake checks the UsernameToken
digest and misbehaves on cue (SOAP Faults, HTTP 500, slow answers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from govconnect import SoapFaultError

from {{ cookiecutter.__package_name }} import {{ cookiecutter.__class_name }}
from {{ cookiecutter.__package_name }}.connector import WSDL
from {{ cookiecutter.__package_name }}.sample import SAMPLE_PASSWORD, SAMPLE_USER, sample_answers
from {{ cookiecutter.__package_name }}.sample_data import MATTER_CODE, SAMPLE_CITIZEN_ID


@pytest.fixture
def fake(soap_legacy_factory: Callable[..., Any]) -> Any:
    return soap_legacy_factory(
        WSDL, sample_answers(), username=SAMPLE_USER, password=SAMPLE_PASSWORD
    )


def connector(fake: Any, password: str = SAMPLE_PASSWORD) -> {{ cookiecutter.__class_name }}:
    settings = {"endpoint": fake.url, "username": SAMPLE_USER, "password": password}
    return {{ cookiecutter.__class_name }}(settings)


def test_lookup_survives_a_server_error(fake: Any) -> None:
    fake.inject("http_500")
    with connector(fake) as conn:
        [person] = conn.run("person", {"citizen_id": SAMPLE_CITIZEN_ID})
    assert person.citizen_id == SAMPLE_CITIZEN_ID
    assert person.registered_on.year == 2020


def test_a_fault_names_code_and_string(fake: Any) -> None:
    fake.inject("fault", code="soap:Server", string="数据库不可用")
    with connector(fake) as conn, pytest.raises(SoapFaultError, match="数据库不可用"):
        list(conn.run("person", {"citizen_id": SAMPLE_CITIZEN_ID}))


def test_a_wrong_password_is_refused(fake: Any) -> None:
    with connector(fake, "wrong") as conn, pytest.raises(SoapFaultError) as info:
        list(conn.run("person", {"citizen_id": SAMPLE_CITIZEN_ID}))
    assert info.value.code == "wsse:FailedAuthentication"


def test_intake_passes_the_application_once(fake: Any) -> None:
    values = {"sqbh": "SQ1", "sfzh": SAMPLE_CITIZEN_ID, "xm": "张伟", "sqsj": "20260105"}
    with connector(fake) as conn:
        sink = conn.intake_handlers()[MATTER_CODE].sink(conn)
        first, again = sink.write("SQ1", values), sink.write("SQ1", values)
    assert (first.applied, again.applied) == (True, False)
    assert first.reference == again.reference == "SQ-000001"
    assert fake.calls_to("SubmitApplication")[0].headers["idempotency-key"] == "SQ1"
