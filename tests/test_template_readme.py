"""The generated README tells the truth: govconnect is not on the package index (install it from a
checkout or from the wheels ``make dist`` builds), and an installed connector does nothing until it
is configured (``[connectors.<name>]`` or ``GOVCONNECT_<NAME>_*``), since ``publish --all`` and
``intake run`` skip one that is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from govconnect.cli.new import render_connector

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("backend", ["sql", "file-drop", "rest", "soap"])
def test_generated_readme_says_how_to_install_and_configure(tmp_path: Path, backend: str) -> None:
    name = "readme_" + backend.replace("-", "_")
    project = render_connector(tmp_path, {"connector_name": name, "backend": backend})
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "not on the Python package index" in readme
    assert "make dist" in readme and "pip install dist/govconnect-*.whl" in readme
    assert "pip install -e '/path/to/govconnect[dev]'" in readme
    assert f"[connectors.{name}]" in readme
    assert f"GOVCONNECT_{name.upper()}_<SETTING>" in readme
    assert "skipped by `govconnect publish --all`" in readme.replace("\n", " ")


def test_the_makefile_the_readme_names_has_a_dist_target() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\ndist:" in makefile
