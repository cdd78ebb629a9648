"""Keep the files of the chosen legacy backend and drop the others.

Each backend (sql, file-drop, rest) has its own connector, sample legacy system and tests under
``_variants/<backend>/`` in the template, so every variant stays a plain, readable Python file. After
rendering, this hook moves the chosen ones into the package (``test_*.py`` into ``tests/``) and
removes ``_variants``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

BACKEND = "{{ cookiecutter.backend }}"
PACKAGE = "{{ cookiecutter.__package_name }}"
OFFERING = "{{ cookiecutter.offering }}"


def main(root: Path) -> None:
    variants = root / "_variants"
    for source in sorted((variants / BACKEND).iterdir()):
        target_dir = root / "tests" if source.name.startswith("test_") else root / PACKAGE
        shutil.move(str(source), target_dir / source.name)
    shutil.rmtree(variants)
    if OFFERING == "dataset":  # no lookup to test
        (root / "tests" / "test_lookup.py").unlink()


if __name__ == "__main__":
    main(Path.cwd())
