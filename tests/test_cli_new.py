"""``govconnect new connector``: answers from --set, refusals as clear errors, template lookup."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from govconnect import ConfigurationError
from govconnect.cli import app, build
from govconnect.cli.new import template_path

runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _cli() -> None:
    build()


def test_new_connector_with_set_answers(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "new",
            "connector",
            "--no-input",
            "--output-dir",
            str(tmp_path),
            "--set",
            "connector_name=civil_test",
            "--set",
            "department_code=DEPT-42",
            "--set",
            "backend=rest",
        ],
    )
    assert result.exit_code == 0, result.output
    project = tmp_path / "govconnect-civil-test"
    connector = (project / "govconnect_civil_test" / "connector.py").read_text(encoding="utf-8")
    assert 'code="DEPT-42"' in connector
    assert (project / "govconnect_civil_test" / "client.py").is_file()
    assert "pip install -e ." in result.output


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        ("department_code=部门", "department_code"),
        ("sharing=not_shared", "sharing_terms"),  # not shared needs its legal basis
    ],
)
def test_refused_answer_exits_1_naming_the_field(tmp_path: Path, answer: str, field: str) -> None:
    result = runner.invoke(
        app, ["new", "connector", "--no-input", "-o", str(tmp_path), "--set", answer]
    )
    assert result.exit_code == 1
    assert field in result.output
    assert list(tmp_path.iterdir()) == []


def test_set_without_equals_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["new", "connector", "--no-input", "-o", str(tmp_path), "--set", "x"]
    )
    assert result.exit_code == 2


def test_existing_project_is_not_overwritten(tmp_path: Path) -> None:
    args = ["new", "connector", "--no-input", "-o", str(tmp_path), "--set", "connector_name=twice"]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 1
    assert "error" in again.output


def test_template_found_in_source_checkout() -> None:
    found = template_path()
    assert (found / "cookiecutter.json").is_file()
    assert (found / "hooks" / "pre_gen_project.py").is_file()


def test_templates_folder_can_be_overridden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(template_path(), tmp_path / "connector")
    monkeypatch.setenv("GOVCONNECT_TEMPLATES", str(tmp_path))
    assert template_path() == tmp_path / "connector"


def test_unknown_template_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        template_path("no-such-template")


ANSWERS = [
    *["D01", "民政局", "S01", "系统", "{name}", "3", "", "D01-SQ-01", "作者", "311101001/0009"],
    *["", "", "", ""],  # sharing, its conditions, update cycle, distribution name: the defaults
]


def test_interactive_answers(tmp_path: Path) -> None:
    answers = "\n".join(ANSWERS).format(name="asked_one") + "\n"
    result = runner.invoke(app, ["new", "connector", "-o", str(tmp_path)], input=answers)
    assert result.exit_code == 0, result.output
    connector = tmp_path / "govconnect-asked-one" / "govconnect_asked_one" / "connector.py"
    assert 'code="D01"' in connector.read_text(encoding="utf-8")
    assert (connector.parent / "client.py").is_file()


def test_interactive_answer_refused_by_the_hook_is_asked_again(tmp_path: Path) -> None:
    answers = "\n".join(["bad code", *ANSWERS]).format(name="asked_two") + "\n"
    result = runner.invoke(app, ["new", "connector", "-o", str(tmp_path)], input=answers)
    assert result.exit_code == 0, result.output
    assert "error: department_code: 'bad code' is not a code" in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["govconnect-asked-two"]


def test_input_ending_mid_questions_generates_nothing(tmp_path: Path) -> None:
    answers = "\n".join(ANSWERS[:5]).format(name="asked_three") + "\n"
    result = runner.invoke(app, ["new", "connector", "-o", str(tmp_path)], input=answers)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


WSDL = Path(__file__).with_name("data") / "hjxt.wsdl"


def new_from_wsdl(tmp_path: Path, *args: str) -> Any:
    base = ["new", "connector", "--no-input", "-o", str(tmp_path), "--from-wsdl", str(WSDL)]
    return runner.invoke(app, [*base, *args])


def test_new_connector_from_wsdl_drafts_services(tmp_path: Path) -> None:
    result = new_from_wsdl(tmp_path, "--set", "connector_name=hjws", "--operation", "QueryPerson")
    assert result.exit_code == 0, result.output
    assert "drafted service query_person from operation QueryPerson" in result.output
    package = tmp_path / "govconnect-hjws" / "govconnect_hjws"
    draft = (package / "wsdl_connector.py").read_text(encoding="utf-8")
    assert "class QueryPersonRecord(Record):" in draft and "ListPersons" not in draft
    assert 'sfzh: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)' in draft
    # an element without documentation is named and classified by discovery's dictionary
    assert 'xxdz: str | None = field("详细地址", level=Level.SENSITIVE, personal=True' in draft
    assert "DRAFT" in draft
    assert (package / "vendor.wsdl").read_bytes() == WSDL.read_bytes()
    pyproject = (tmp_path / "govconnect-hjws" / "pyproject.toml").read_text(encoding="utf-8")
    assert 'hjws_wsdl = "govconnect_hjws.wsdl_connector"' in pyproject


def test_from_wsdl_names_an_unknown_operation_and_what_exists(tmp_path: Path) -> None:
    result = new_from_wsdl(tmp_path, "--set", "connector_name=hjws", "--operation", "Nope")
    assert result.exit_code == 1
    assert "Nope" in result.output and "QueryPerson" in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []  # nothing rendered for a WSDL that cannot be drafted


def test_from_wsdl_is_for_the_soap_backend(tmp_path: Path) -> None:
    result = new_from_wsdl(tmp_path, "--set", "backend=rest")
    assert result.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_each_answer_is_checked_as_typed_and_asked_again(tmp_path: Path) -> None:
    """Through the real entry point, answers piped in as a person types them: a bad answer is
    refused at once, naming its field, and asked again; the answers before it are kept; a refused
    ``project_slug`` (``a/b``) leaves no folder behind; the sharing answers reach the connector."""
    typed = [
        "民政局",  # department_code: refused, asked again
        "11010500000",
        "",  # department_name: default
        "",
        "",
        "Bad-Name",  # connector_name: refused, asked again
        "typed_demo",
        "9",  # backend: no such choice, asked again
        "sql",
        "",  # offering: the lookup
        "",
        "",
        "",
        "3",  # sharing: not_shared
        "",  # its legal basis: blank is refused for not_shared, asked again
        "《示例条例》第十条",
        "4",  # update_cycle: monthly
        "a/b",  # project_slug: refused, asked again
        "",
    ]
    done = _govconnect("new", "connector", cwd=tmp_path, stdin="\n".join(typed) + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    output = done.stdout + done.stderr
    for field in ("department_code", "connector_name", "backend", "sharing_terms", "project_slug"):
        assert f"error: {field}:" in output, field
    assert "Traceback" not in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["govconnect-typed-demo"]
    connector = tmp_path / "govconnect-typed-demo" / "govconnect_typed_demo" / "connector.py"
    text = connector.read_text(encoding="utf-8")
    assert 'code="11010500000"' in text
    assert 'sharing="not_shared"' in text and 'legal_basis="《示例条例》第十条"' in text
    assert 'update_cycle="monthly"' in text


def _govconnect(*args: str, cwd: Path, stdin: str | None = None) -> Any:
    """The real ``govconnect`` entry point of this environment, in a subprocess."""
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("govconnect")
    return subprocess.run(
        [str(exe), *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_fixed_width_variant_is_drafted_from_the_sample_layout(tmp_path: Path) -> None:
    """backend=fixed-width is the from-layout generator (FixedWidthLayout), not a copy of it:
    without --from-layout it drafts from the sample layout shipped beside the template."""
    done = _govconnect(
        "new", "connector", "--no-input", "--set", "backend=fixed-width",
        "--set", "connector_name=fw_set", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "drafted from the sample layout" in done.stdout
    assert "12 fields of sample_layout.csv, 158 bytes per record" in done.stdout
    package = tmp_path / "govconnect-fw-set" / "govconnect_fw_set"
    assert "FixedWidthLayout(" in (package / "layout.py").read_text(encoding="utf-8")
    readme = (package.parent / "README.md").read_text(encoding="utf-8")
    assert "not on the Python package index" in readme and "[connectors.fw_set]" in readme


def test_fixed_width_is_a_choice_of_the_questions(tmp_path: Path) -> None:
    typed = [*["D01", "民政局", "S01", "系统", "fw_typed", "fixed-width"], *[""] * 8]
    done = _govconnect("new", "connector", cwd=tmp_path, stdin="\n".join(typed) + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    connector = tmp_path / "govconnect-fw-typed" / "govconnect_fw_typed" / "connector.py"
    assert 'code="D01"' in connector.read_text(encoding="utf-8")


def test_plain_cookiecutter_refuses_fixed_width_pointing_at_govconnect(tmp_path: Path) -> None:
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.main import cookiecutter

    with pytest.raises(FailedHookException):
        cookiecutter(
            str(template_path()),
            no_input=True,
            extra_context={"backend": "fixed-width", "connector_name": "fw_plain"},
            output_dir=str(tmp_path),
        )
    assert list(tmp_path.iterdir()) == []


def test_render_connector_refuses_fixed_width(tmp_path: Path) -> None:
    from govconnect.cli.new import render_connector

    with pytest.raises(ConfigurationError, match="drafted from a byte layout"):
        render_connector(tmp_path, {"backend": "fixed-width", "connector_name": "fw_api"})


def test_from_wsdl_asks_the_questions_but_not_the_backend(tmp_path: Path) -> None:
    typed = ["D01", "民政局", "S01", "系统", "ws_typed", *[""] * 8]  # no backend question
    result = runner.invoke(
        app,
        ["new", "connector", "-o", str(tmp_path), "--from-wsdl", str(WSDL)],
        input="\n".join(typed) + "\n",
    )
    assert result.exit_code == 0, result.output
    assert "How is the legacy system reached?" not in result.output
    package = tmp_path / "govconnect-ws-typed" / "govconnect_ws_typed"
    assert 'code="D01"' in (package / "connector.py").read_text(encoding="utf-8")
    assert (package / "wsdl_connector.py").is_file()
