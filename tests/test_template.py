"""The connector template, end to end: render every backend, install, run its tests, lint it.

Slow by nature, so everything expensive happens once per session: the projects are rendered
together, installed together (``--no-deps``, editable) into one throwaway virtualenv that sees the
project's own ``.venv`` through a ``.pth`` file. The generated plugins are therefore never installed
into the environment running this suite, and plugin discovery elsewhere sees no strays.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from govconnect.cli.new import _rendered_answers, element_namer, render_connector
from govconnect.soap._draft_module import write_draft
from govconnect.soap._scaffold import draft_services

pytestmark = pytest.mark.slow

BACKENDS = ("sql", "file-drop", "rest", "soap")
PROJECTS = (*BACKENDS, "wsdl")
"""Every backend, and ``wsdl``: the soap backend with a connector drafted by ``--from-wsdl``."""
WSDL = Path(__file__).with_name("data") / "hjxt.wsdl"
UNFINISHED = ("TO" + "DO", "FIX" + "ME", "NotImplemented" + "Error")
"""Markers of unfinished code, spelled so that this file does not contain them."""


def _name(backend: str) -> str:
    return "tpl_" + backend.replace("-", "_")


COMMON_FILES = {
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "{pkg}/__init__.py",
    "{pkg}/connector.py",
    "{pkg}/records.py",
    "{pkg}/sample.py",
    "{pkg}/sample_data.py",
    "tests/conftest.py",
    "tests/test_conformance.py",
    "tests/test_lookup.py",
}
EXPECTED_FILES = {
    "sql": COMMON_FILES | {"tests/test_legacy.py"},
    "file-drop": COMMON_FILES | {"tests/test_legacy.py"},
    "rest": COMMON_FILES | {"{pkg}/client.py", "tests/test_client.py"},
    "soap": COMMON_FILES | {"{pkg}/legacy.wsdl", "tests/test_soap.py"},
}
EXPECTED_FILES["wsdl"] = EXPECTED_FILES["soap"] | {
    "{pkg}/vendor.wsdl",
    "{pkg}/wsdl_connector.py",
    "tests/test_wsdl_conformance.py",
}


def _run(
    args: list[str], cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The template rendered once per backend."""
    out = tmp_path_factory.mktemp("rendered")
    projects = {
        backend: render_connector(
            out,
            {
                "backend": backend,
                "connector_name": _name(backend),
                "resource_code": f"311101001/{1 + BACKENDS.index(backend):04d}",
            },
        )
        for backend in BACKENDS
    }
    answers = {
        "backend": "soap",
        "connector_name": _name("wsdl"),
        "resource_code": "311101001/0005",
    }
    projects["wsdl"] = render_connector(out, answers)
    write_draft(
        projects["wsdl"],
        _rendered_answers("connector", answers),
        draft_services(WSDL, namer=element_namer()),
    )
    return projects


@pytest.fixture(scope="session")
def venv_python(rendered: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway virtualenv layered over this one, with the projects installed."""
    root = tmp_path_factory.mktemp("venv")
    result = _run([sys.executable, "-m", "venv", "--without-pip", str(root)])
    assert result.returncode == 0, result.stderr
    python = root / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    site_dir = Path(purelib.stdout.strip())
    parent = sysconfig.get_paths()["purelib"]
    (site_dir / "_govconnect_parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    result = _run([*pip, "wheel"])
    assert result.returncode == 0, result.stderr
    editables = [arg for p in rendered.values() for arg in ("-e", str(p))]
    result = _run([*pip, "--no-deps", "--no-build-isolation", *editables])
    assert result.returncode == 0, result.stdout + result.stderr
    return python


def test_exact_set_of_generated_files(rendered: dict[str, Path]) -> None:
    for backend, project in rendered.items():
        assert project.name == f"govconnect-{_name(backend).replace('_', '-')}"
        files = {
            str(p.relative_to(project))
            for p in project.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        pkg = f"govconnect_{_name(backend)}"
        assert files == {f.format(pkg=pkg) for f in EXPECTED_FILES[backend]}, backend


def test_generated_code_has_no_placeholders(rendered: dict[str, Path]) -> None:
    for project in rendered.values():
        for path in project.rglob("*"):
            if path.is_file():
                text = path.read_text(encoding="utf-8")
                assert "{{" not in text and "{%" not in text, path
                assert not re.search("|".join(UNFINISHED), text), path


@pytest.mark.parametrize("backend", PROJECTS)
def test_generated_project_tests_pass(
    backend: str, rendered: dict[str, Path], venv_python: Path
) -> None:
    result = _run(
        [str(venv_python), "-m", "pytest", "-v", "-p", "no:cacheprovider"], rendered[backend]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TestConformance::test_sample_query[person] PASSED" in result.stdout
    assert "TestConformance::test_intake_writes[application] PASSED" in result.stdout
    if backend == "wsdl":
        for service in ("list_persons", "query_person"):
            assert f"TestWsdlConformance::test_sample_query[{service}] PASSED" in result.stdout


@pytest.mark.parametrize("backend", PROJECTS)
def test_generated_project_lints_clean(backend: str, rendered: dict[str, Path]) -> None:
    ruff = [sys.executable, "-m", "ruff"]
    check = _run([*ruff, "check", "--no-cache", "."], rendered[backend])
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = _run([*ruff, "format", "--check", "--no-cache", "."], rendered[backend])
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_readme_quick_start_is_what_the_tests_ran(rendered: dict[str, Path]) -> None:
    for project in rendered.values():
        readme = (project / "README.md").read_text(encoding="utf-8")
        blocks = [b.split("\n")[:-1] for b in re.findall(r"```console\n(.*?)```", readme, re.S)]
        assert ["pip install -e .", "pytest"] in blocks


def test_installed_plugins_are_discovered_and_pass_govconnect_check(
    rendered: dict[str, Path], venv_python: Path
) -> None:
    names = [_name(b) for b in PROJECTS]
    code = "import sys; from govconnect.cli import main; sys.argv[0] = 'govconnect'; main()"
    result = _run([str(venv_python), "-c", code, "check"])
    assert result.returncode == 0, result.stdout + result.stderr
    for name in names:
        assert f"PASS sample_query       {name}.person" in result.stdout
        assert f"PASS intake_writes      {name}.application" in result.stdout
    assert f"PASS sample_query       {_name('wsdl')}_wsdl.query_person" in result.stdout
    assert " 0 failed" in result.stdout


def test_generated_plugins_stay_out_of_this_environment(venv_python: Path) -> None:
    found = {ep.name for ep in importlib.metadata.entry_points(group="govconnect")}
    assert not {_name(b) for b in PROJECTS} & found


def test_installed_wheel_ships_the_template(tmp_path: Path) -> None:
    """A wheel of govconnect carries the template, and ``govconnect new`` finds it there."""
    repo = Path(__file__).resolve().parent.parent
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = _run([*pip, "wheel", "-q", "--no-deps", "-w", str(wheels), str(repo)])
    assert built.returncode == 0, built.stdout + built.stderr
    target = tmp_path / "site"
    [wheel] = wheels.glob("govconnect-*.whl")
    installed = _run([*pip, "install", "-q", "--no-deps", "--target", str(target), str(wheel)])
    assert installed.returncode == 0, installed.stderr
    code = (
        f"import sys; sys.path.insert(0, {str(target)!r}); "
        "from govconnect.cli.new import template_path; print(template_path())"
    )
    found = _run([sys.executable, "-I", "-c", code], cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == target / "govconnect" / "_templates" / "connector"
    assert (
        target / "govconnect" / "_templates" / "connector" / "hooks" / "pre_gen_project.py"
    ).is_file()
