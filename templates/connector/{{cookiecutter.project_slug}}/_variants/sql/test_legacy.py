"""Behaviour of this connector beyond the standard checks and the lookup tests: intake."""

from __future__ import annotations

from govconnect import Connector

from {{ cookiecutter.__package_name }}.sample_data import MATTER_CODE, SAMPLE_CITIZEN_ID


def test_intake_writes_the_application_once(connector: Connector) -> None:
    handler = connector.intake_handlers()[MATTER_CODE]
    sink = handler.sink(connector)
    values = {"sfzh": SAMPLE_CITIZEN_ID, "xm": "张伟", "sqsj": "20260105093000", "ly": "一窗受理"}
    assert sink.write("SQ2026000009", values).applied is True
    assert sink.write("SQ2026000009", values).applied is False
