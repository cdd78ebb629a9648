"""``govconnect check``: the conformance report per check, exit 1 on any failure."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from govconnect import hookimpl, load_registry
from govconnect.cli import app, build
from govconnect.cli import check as check_module
from govconnect.testing import Conformance
from tests import sample_connector
from tests.test_conformance import Sloppy

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _cli() -> None:
    build()


@pytest.fixture
def in_process_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check in-process plugins only: the sample connector (with a spec) and a sloppy one."""
    good = SimpleNamespace(
        __name__="good",
        register_connectors=hookimpl(lambda: [sample_connector.Registry]),
        conformance=Conformance(
            sample_connector.Registry,
            sample_params={"person": {"citizen_id": "11010519491231002X"}},
        ),
    )
    bad = SimpleNamespace(__name__="bad", register_connectors=hookimpl(lambda: [Sloppy]))
    reg = load_registry(plugins=[good, bad], entry_points=False, config={})
    monkeypatch.setattr(check_module, "registry", lambda ctx: reg)


def test_installed_household_plugin_passes() -> None:
    result = runner.invoke(app, ["check", "household"])
    assert result.exit_code == 0, result.output
    assert "PASS sample_query" in result.output
    assert " 0 failed" in result.output


def test_passing_plugin_report(in_process_plugins: None) -> None:
    result = runner.invoke(app, ["check", "good"])
    assert result.exit_code == 0, result.output
    assert "PASS catalog_entry      people.person" in result.output


def test_failing_plugin_exits_1_with_problems(in_process_plugins: None) -> None:
    result = runner.invoke(app, ["check", "sloppy"])
    assert result.exit_code == 1
    assert "FAIL dataset_streams    sloppy.everyone" in result.output
    assert "[dataset.streams]" in result.output
    assert "sample_params=" in result.output


def test_json_report(in_process_plugins: None) -> None:
    result = runner.invoke(app, ["check", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    statuses = {(r["check"], r["target"]): r["status"] for r in data["results"]}
    assert statuses[("sample_query", "people.person")] == "passed"
    assert statuses[("dataset_streams", "sloppy.everyone")] == "failed"


def test_unknown_plugin_is_an_error(in_process_plugins: None) -> None:
    result = runner.invoke(app, ["check", "nosuch"])
    assert result.exit_code == 1
    assert "no plugin or connector named 'nosuch'" in result.output
