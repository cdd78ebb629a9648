"""``make dist`` builds the wheels a machine without this checkout installs govconnect from: it is
not on the package index, so the generated connector README points at them."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_make_dist_builds_the_wheels_of_govconnect_and_its_plugins(tmp_path: Path) -> None:
    out = tmp_path / "dist"
    done = subprocess.run(
        ["make", "-C", str(ROOT), "dist", f"DIST={out}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    plugins = sorted(p.name.replace("-", "_") for p in (ROOT / "plugins").iterdir() if p.is_dir())
    wheels = sorted(p.name.split("-")[0] for p in out.glob("*.whl"))
    assert wheels == sorted(["govconnect", *plugins])
    (core,) = out.glob("govconnect-*.whl")
    names = zipfile.ZipFile(core).namelist()
    # `govconnect new connector` works from the installed wheel: the template ships inside it.
    assert "govconnect/_templates/connector/cookiecutter.json" in names
