"""The ``offering`` question: a lookup (``@query``), the bulk dataset (``@dataset``) or both. Each
dataset combination is rendered, installed into a throwaway environment (as the template's own
test does), and must pass its own tests, ruff and ``govconnect check``; the rest and soap samples
answer one person at a time, so a dataset there is refused before anything is generated."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from govconnect import InvalidInputError
from govconnect.cli.new import render_connector
from tests.test_from_db import GOVCONNECT, throwaway_venv
from tests.test_template import _run

COMBINATIONS = [
    ("sql", "both"),
    ("sql", "dataset"),
    ("file-drop", "both"),
    ("file-drop", "dataset"),
]


def _name(backend: str, offering: str) -> str:
    return f"off_{backend.replace('-', '_')}_{offering}"


@pytest.mark.parametrize("backend", ["rest", "soap"])
def test_a_dataset_needs_a_backend_that_reads_the_whole_table(tmp_path: Path, backend: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        render_connector(tmp_path, {"backend": backend, "offering": "both"})
    assert [p.field for p in info.value.problems] == ["offering"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_dataset_offerings_install_pass_their_tests_and_govconnect_check(tmp_path: Path) -> None:
    projects = {
        (b, o): render_connector(
            tmp_path / "out", {"backend": b, "offering": o, "connector_name": _name(b, o)}
        )
        for b, o in COMBINATIONS
    }
    for (backend, offering), project in projects.items():
        pkg = project / f"govconnect_{_name(backend, offering)}"
        connector = (pkg / "connector.py").read_text(encoding="utf-8")
        assert ("@query(" in connector) == (offering == "both"), project
        assert "@dataset(" in connector and 'key="citizen_id"' in connector
        assert (project / "tests" / "test_lookup.py").exists() == (offering == "both")
        if offering == "both":  # the dataset takes the lookup's code's next sequence
            assert 'code="311101001/0001"' in connector and 'code="311101001/0002"' in connector
        ruff = [sys.executable, "-m", "ruff"]
        for args in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
            linted = _run([*ruff, *args], project)
            assert linted.returncode == 0, linted.stdout + linted.stderr
    python = throwaway_venv(tmp_path / "venv", list(projects.values()))
    for project in projects.values():
        tested = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
        assert tested.returncode == 0, tested.stdout[-3000:]
    checked = _run([str(python), "-c", GOVCONNECT, "check"])
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]
    for backend, offering in COMBINATIONS:
        assert f"PASS sample_query       {_name(backend, offering)}.people" in checked.stdout
    assert " 0 failed" in checked.stdout
