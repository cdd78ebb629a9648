"""``govconnect new connector --from-layout``, end to end, with no line written by hand.

The civil-affairs drop-file layout (``tests/data/mzjz_layout.csv``: GB18030, record type ``D``,
trailer ``T`` + count) and a UTF-8 variant without either are drafted into projects, installed
into one throwaway virtualenv (as ``tests/test_template.py`` does), and their own tests, ruff and
``govconnect check`` run there. Broken layouts are refused row by row.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govconnect.cli import app, build
from govconnect.cli._from_layout import read_layout, render_from_layout
from govconnect.testing import legacy_schema
from tests.test_from_db import throwaway_venv
from tests.test_template import UNFINISHED, _run

LAYOUT = Path(__file__).parent / "data" / "mzjz_layout.csv"
GOVCONNECT = "import sys; from govconnect.cli import main; sys.argv[0] = 'govconnect'; main()"


def test_a_layout_reads_as_zero_based_contiguous_fields() -> None:
    rows = read_layout(LAYOUT)
    assert [(r["name"], r["start"], r["length"]) for r in rows[:3]] == [
        ("LX", 0, 1),
        ("AJBH", 1, 16),
        ("SFZH", 17, 18),
    ]
    assert sum(r["length"] for r in rows) == 158  # the civil-affairs record


def test_a_broken_layout_is_refused_naming_every_row(tmp_path: Path) -> None:
    build()
    bad = tmp_path / "bad.csv"
    bad.write_text("name,title,start,length,type\nA,甲,1,2,C\nB,乙,4,2,Q\nA,丙,6,0,C\n")
    result = CliRunner().invoke(
        app, ["new", "connector", "--from-layout", str(bad), "-o", str(tmp_path)]
    )
    assert result.exit_code == 1
    for line in (
        "bad.csv:3: type 'Q' is not one of",
        "bad.csv:4: name 'A' is blank or repeated",
        "bad.csv:4: length 0 is not positive",
        "bad.csv:3: B starts at 4; the field before ends at 3",
    ):
        assert line in result.output
    assert "Traceback" not in result.output
    assert not list(tmp_path.glob("govconnect-*"))


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, Any]]]:
    out = tmp_path_factory.mktemp("from_layout")
    plain = out / "plain_layout.csv"
    plain.write_text(
        "name,title,start,length,type\n"
        "ZJHM,证件号码,0,18,C\nLXDH,联系电话,18,11,C\nCSRQ,出生日期,29,10,D\nJE,金额,39,8,N\n",
        encoding="utf-8",
    )
    return {
        "gb18030": render_from_layout(
            LAYOUT,
            out,
            {"connector_name": "layout_gb"},
            encoding="gb18030",
            trailer="T",
            record_type="D",
        ),
        "utf-8": render_from_layout(plain, out, {"connector_name": "layout_utf"}, encoding="utf-8"),
    }


@pytest.fixture(scope="session")
def venv_python(
    rendered: dict[str, tuple[Path, dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = tmp_path_factory.mktemp("venv_from_layout")
    return throwaway_venv(root, [path for path, _ in rendered.values()])


@pytest.mark.slow
def test_the_record_is_typed_titled_and_classified_from_the_layout(
    rendered: dict[str, tuple[Path, dict[str, Any]]],
) -> None:
    project, context = rendered["gb18030"]
    records = (project / context["package"] / "records.py").read_text(encoding="utf-8")
    assert "sfzh: CitizenId = field(" in records  # the key: an 18-byte 公民身份号码
    assert "slrq: TextDate | None = field(" in records
    assert "gxsj: TextDateTime | None = field(" in records
    assert "jzje: Decimal | None = field(" in records
    assert "lx:" not in records  # the record type is the layout's, not the record's
    layout = (project / context["package"] / "layout.py").read_text(encoding="utf-8")
    assert 'TRAILER: RecordCountTrailer | None = RecordCountTrailer(prefix="T", digits=9)' in layout
    sampled = {v for v in legacy_schema().sampled_values() if len(v) >= 8}
    for path in project.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "{{" not in text and not any(m in text for m in UNFINISHED), path
        assert not [v for v in sampled if v in text], path


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["gb18030", "utf-8"])
def test_drafted_project_tests_pass_and_lint_clean(
    variant: str, rendered: dict[str, tuple[Path, dict[str, Any]]], venv_python: Path
) -> None:
    project, _ = rendered[variant]
    result = _run([str(venv_python), "-m", "pytest", "-v", "-p", "no:cacheprovider"], project)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    if variant == "gb18030":
        assert "test_a_file_whose_trailer_miscounts_is_refused PASSED" in result.stdout
    ruff = [sys.executable, "-m", "ruff"]
    assert _run([*ruff, "check", "--no-cache", "."], project).returncode == 0
    assert _run([*ruff, "format", "--check", "--no-cache", "."], project).returncode == 0


@pytest.mark.slow
def test_govconnect_check_is_green(
    rendered: dict[str, tuple[Path, dict[str, Any]]], venv_python: Path, tmp_path: Path
) -> None:
    for _, context in rendered.values():
        name = context["connector_name"]
        result = _run([str(venv_python), "-c", GOVCONNECT, "check", name], tmp_path)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr
        assert " 0 failed" in result.stdout
