"""docs/tutorial.md runs as written: its ``sh`` blocks, in order, in one shell, from an empty folder.

As a new user runs them: ``python``, ``pip`` and ``govconnect`` are those of a throwaway
virtualenv layered over this one (``tests/test_from_db.py``'s ``throwaway_venv``), so the drafted
plugin the tutorial installs never registers in the environment running the suite; its ``pip``
adds ``--no-deps --no-build-isolation`` (no index is needed, govconnect is already there). The
tutorial's ports (8900 platform, 8800 gateway) are replaced by free ones, so concurrent runs do
not collide. Slow: it installs a project and starts two servers (about 40 s).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.test_from_db import GOVCONNECT, throwaway_venv

pytestmark = pytest.mark.slow

TUTORIAL = Path(__file__).resolve().parent.parent / "docs" / "tutorial.md"


def shell_blocks(text: str) -> list[str]:
    """The ``sh`` blocks of a markdown text, in order (``console``, ``json`` and bare blocks are
    shown output, not commands)."""
    return re.findall(r"^```sh\n(.*?)^```", text, re.S | re.M)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tools(venv_python: Path) -> Path:
    """``pip`` and ``govconnect`` next to the throwaway ``python``, as a user's venv has them."""
    bin_dir = venv_python.parent
    (bin_dir / "pip").write_text(
        f'#!/bin/sh\nexec "{venv_python}" -m pip "$@" --no-deps --no-build-isolation -q '
        "--disable-pip-version-check\n"
    )
    (bin_dir / "govconnect").write_text(f'#!/bin/sh\nexec "{venv_python}" -c "{GOVCONNECT}" "$@"\n')
    for tool in ("pip", "govconnect"):
        (bin_dir / tool).chmod(0o755)
    return bin_dir


@pytest.mark.skipif(shutil.which("curl") is None, reason="the tutorial's last step uses curl")
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    blocks = shell_blocks(TUTORIAL.read_text(encoding="utf-8"))
    assert len(blocks) >= 7
    platform, gateway = _free_port(), _free_port()
    script = "\n".join(blocks).replace("8900", str(platform)).replace("8800", str(gateway))
    bin_dir = _tools(throwaway_venv(tmp_path / "venv", []))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "GOVCONNECT_"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["COLUMNS"] = "120"
    home = tmp_path / "home"
    home.mkdir()
    # -e: the first failing command fails the test; a trap stops the servers whatever happens.
    guarded = (
        "trap 'kill ${GATEWAY:-} ${PLATFORM:-} 2>/dev/null' EXIT\nset -euo pipefail\n" + script
    )
    done = subprocess.run(
        ["bash", "-c", guarded],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    out = done.stdout
    assert done.returncode == 0, (out[-4000:], done.stderr[-3000:])
    assert "rk_jbxx  rows≈300  key=gmsfhm" in out  # discover sql
    assert "created connector plugin in govconnect-hjgl: 1 table(s), 2 services" in out
    assert "10 passed, 0 failed, 0 skipped" in out  # govconnect check hjgl
    assert "delivered 300 records, 0 dead letters" in out  # publish to the mock platform
    answer = out[out.index('{"service":"11010500000/MZYW/rk_jbxx_by_key/v1"') :]
    assert '"masked_fields":["gmsfhm"' in answer and '"records":[{"gmsfhm":"' in answer
    assert "Traceback" not in out + done.stderr
