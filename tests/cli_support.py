"""Running the real ``govconnect`` console script as a user does: a subprocess in a folder of its
own, with a clean environment (no ``GOVCONNECT_*`` from the developer's shell leaks in)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

EXE = Path(sys.executable).with_name("govconnect")


@dataclass
class Ran:
    """What one command printed and returned."""

    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err


def govconnect(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 90
) -> Ran:
    """Run ``govconnect ARGS`` in ``cwd`` with only ``env`` added to a clean environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GOVCONNECT_")}
    base["COLUMNS"] = "200"
    proc = subprocess.run(
        [str(EXE), *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def files_under(folder: Path) -> list[str]:
    """Every file and folder below ``folder``, relative, sorted (to prove nothing was created)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
