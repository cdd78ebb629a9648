"""Behaviour of this connector beyond the standard checks and the lookup tests: a missing drop
folder, intake."""

from __future__ import annotations

from pathlib import Path

import pytest
from govconnect import ConfigurationError, Connector

from {{ cookiecutter.__package_name }} import {{ cookiecutter.__class_name }}
from {{ cookiecutter.__package_name }}.sample import ENCODING
from {{ cookiecutter.__package_name }}.sample_data import MATTER_CODE, SAMPLE_CITIZEN_ID


def test_missing_drop_folder_is_a_configuration_error(tmp_path: Path) -> None:
    settings = {"drop_dir": str(tmp_path / "absent")}
    with (
        {{ cookiecutter.__class_name }}(settings) as conn,
        pytest.raises(ConfigurationError, match="does not exist"),
    ):
{%- if cookiecutter.offering == "dataset" %}
        list(conn.run("people", {}))
{%- else %}
        list(conn.run("person", {"citizen_id": SAMPLE_CITIZEN_ID}))
{%- endif %}


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
