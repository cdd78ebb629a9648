"""``govconnect new connector --from-db``, end to end, with no line written by hand.

The sample legacy schema (``govconnect.testing.legacy_schema``) is discovered on SQLite (always)
and PostgreSQL (when a server answers); each drafted project is installed into one throwaway
virtualenv layered over this one (as ``tests/test_template.py`` does for the template), then its
own tests, ruff, ``govconnect check``, ``catalog show`` and the refusal of drafts at
``publish --deliver`` run there. The rendered files are searched for the database password and
for every value the sample schema holds: nothing secret or sampled may reach them.
"""

from __future__ import annotations

import re
import shlex
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from govconnect.cli._from_db import render_from_db
from govconnect.testing import LegacySchema, legacy_schema
from govconnect.testing._databases import SERVER_URLS, _reachable, unique_name
from tests.test_template import UNFINISHED, _run

pytestmark = pytest.mark.slow

PASSWORD = "never-in-a-file"
GOVCONNECT = "import sys; from govconnect.cli import main; sys.argv[0] = 'govconnect'; main()"
FILES = {
    ".gitignore",
    "README.md",
    "pyproject.toml",
    "{pkg}/__init__.py",
    "{pkg}/connector.py",
    "{pkg}/records.py",
    "{pkg}/sample.py",
    "{pkg}/tables.py",
    "tests/conftest.py",
    "tests/test_conformance.py",
    "tests/test_services.py",
}


def _postgres_url() -> str | None:
    if not _reachable("postgresql"):
        return None
    return sa.make_url(SERVER_URLS["postgresql"]).set(password=PASSWORD).render_as_string(False)


@pytest.fixture(scope="session")
def schema() -> LegacySchema:
    return legacy_schema()


@pytest.fixture(scope="session")
def rendered(
    schema: LegacySchema, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The sample schema drafted into a project per reachable backend: name → (folder, context)."""
    out = tmp_path_factory.mktemp("from_db")
    db = tmp_path_factory.mktemp("legacy") / "legacy.sqlite"
    schema.create(sa.create_engine(f"sqlite:///{db}"))
    projects = {"sqlite": render_from_db(f"sqlite:///{db}", out, {"connector_name": "fromdb_lite"})}
    pg_url = _postgres_url()
    if pg_url is not None:
        prefixed = legacy_schema(prefix=unique_name("gcn") + "_")
        engine = sa.create_engine(pg_url)
        prefixed.create(engine)
        try:
            projects["postgresql"] = render_from_db(
                pg_url, out, {"connector_name": "fromdb_pg"}, tables=prefixed.table_names
            )
        finally:
            prefixed.drop(engine)
            engine.dispose()
    return projects


def throwaway_venv(root: Path, projects: list[Path]) -> Path:
    """A virtualenv at ``root`` layered over this one (a ``.pth`` file), with ``projects``
    installed editable and without dependencies: they never register in this environment."""
    assert _run([sys.executable, "-m", "venv", "--without-pip", str(root)]).returncode == 0
    python = root / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    parent = sysconfig.get_paths()["purelib"]
    (Path(purelib.stdout.strip()) / "_govconnect_parent.pth").write_text(
        f"import site; site.addsitedir({parent!r})\n"
    )
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    assert _run([*pip, "wheel"]).returncode == 0
    editables = [arg for path in projects for arg in ("-e", str(path))]
    if editables:  # none: an empty environment the caller installs into (the tutorial's test)
        result = _run([*pip, "--no-deps", "--no-build-isolation", *editables])
        assert result.returncode == 0, result.stdout + result.stderr
    return python


@pytest.fixture(scope="session")
def venv_python(
    rendered: dict[str, tuple[Path, dict[str, Any]]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A throwaway virtualenv over this one, with every drafted project installed (editable)."""
    root = tmp_path_factory.mktemp("venv_from_db")
    return throwaway_venv(root, [path for path, _ in rendered.values()])


def test_every_table_becomes_a_record_a_dataset_and_a_lookup(
    rendered: dict[str, tuple[Path, dict[str, Any]]], schema: LegacySchema
) -> None:
    for backend, (project, context) in rendered.items():
        pkg = context["package"]
        files = {
            p.relative_to(project).as_posix()
            for p in project.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
        assert files == {f.format(pkg=pkg) for f in FILES}, backend
        assert len(context["tables"]) == len(schema.specs), backend
        records = (project / pkg / "records.py").read_text(encoding="utf-8")
        connector = (project / pkg / "connector.py").read_text(encoding="utf-8")
        assert records.count("(Record):") == len(schema.specs)
        assert connector.count("@dataset(") == connector.count("@query(") == len(schema.specs)
        # a field with its reason above it: types, titles, levels and personal flags
        assert "# 300 of 300 sampled non-blank values are valid GB 11643 citizen IDs." in records
        assert "gmsfhm: CitizenId = field(" in records
        assert "csrq: TextDate | None = field(" in records


def test_no_password_no_sampled_value_no_placeholder_in_any_file(
    rendered: dict[str, tuple[Path, dict[str, Any]]], schema: LegacySchema
) -> None:
    # short codes ("1", region "110105") occur in any text; identity numbers, phones, addresses do not
    sampled = {v for v in schema.sampled_values() if len(v) >= 8}
    assert len(sampled) > 1000
    for project, _ in rendered.values():
        for path in project.rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            assert PASSWORD not in text, path
            assert "{{" not in text and "{%" not in text, path
            for marker in UNFINISHED:
                assert marker not in text, path
            leaked = [v for v in sampled if v in text]
            assert not leaked, (path, len(leaked))


def test_readme_documents_the_password_variable(
    rendered: dict[str, tuple[Path, dict[str, Any]]],
) -> None:
    for project, context in rendered.values():
        readme = (project / "README.md").read_text(encoding="utf-8")
        assert f"export {context['env_prefix']}PASSWORD=" in readme


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_drafted_project_tests_pass(
    backend: str, rendered: dict[str, tuple[Path, dict[str, Any]]], venv_python: Path
) -> None:
    if backend not in rendered:
        pytest.skip(f"{backend} server not reachable")
    project, _ = rendered[backend]
    result = _run([str(venv_python), "-m", "pytest", "-v", "-p", "no:cacheprovider"], project)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "test_catalog_metadata_is_marked_as_drafts PASSED" in result.stdout
    assert " failed" not in result.stdout.splitlines()[-1]


def test_drafted_projects_lint_clean(rendered: dict[str, tuple[Path, dict[str, Any]]]) -> None:
    ruff = [sys.executable, "-m", "ruff"]
    for project, _ in rendered.values():
        check = _run([*ruff, "check", "--no-cache", "."], project)
        assert check.returncode == 0, check.stdout + check.stderr
        fmt = _run([*ruff, "format", "--check", "--no-cache", "."], project)
        assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_govconnect_check_is_green(
    rendered: dict[str, tuple[Path, dict[str, Any]]], venv_python: Path, tmp_path: Path
) -> None:
    for _, context in rendered.values():
        name = context["connector_name"]
        result = _run([str(venv_python), "-c", GOVCONNECT, "check", name], tmp_path)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr
        lookups = re.findall(rf"PASS sample_query\s+{name}\.\w+_by_key", result.stdout)
        assert len(lookups) == len(context["tables"]), result.stdout
        assert " 0 failed" in result.stdout


def test_catalog_show_lists_drafts_and_deliver_refuses_them(
    rendered: dict[str, tuple[Path, dict[str, Any]]], venv_python: Path, tmp_path: Path
) -> None:
    _, context = rendered["sqlite"]
    name = context["connector_name"]
    shown = _run([str(venv_python), "-c", GOVCONNECT, "catalog", "show"], tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "drafted value(s) still to be decided" in shown.stdout
    dataset_code = context["tables"][0]["dataset_code"]
    assert f"draft  {dataset_code}  sharing.type = 'conditional'" in shown.stdout
    deliver = [
        *("publish", "--all", "--connector", name, "--deliver"),
        *("--url", "http://127.0.0.1:9", "--token", "t", "--node", "11010500000/MZYW"),
        *("--outbox", str(tmp_path / "outbox.sqlite")),
    ]
    refused = _run([str(venv_python), "-c", GOVCONNECT, *deliver], tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert f"resources[{dataset_code}].code" in refused.stderr
    assert f"resources[{dataset_code}].sharing.type" in refused.stderr
    assert "drafts.undecided" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "outbox.sqlite").exists()


def _documented_commands() -> list[str]:
    text = (Path(__file__).parent.parent / "docs" / "discovery.md").read_text(encoding="utf-8")
    section = text.split("### 4. From a database to a green check", 1)[1]
    block = re.search(r"```console\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1).strip().splitlines()


def test_the_documented_commands_reach_a_green_check(venv_python: Path, tmp_path: Path) -> None:
    """docs/discovery.md's tutorial, line by line, in the throwaway environment: ``govconnect``
    is this checkout's CLI there, ``pip install -e .`` installs without fetching dependencies."""
    cwd = tmp_path
    outputs: dict[str, str] = {}
    for line in _documented_commands():
        words = shlex.split(line)
        if words[0] == "cd":
            cwd = cwd / words[1]
            continue
        command = {
            "python": [str(venv_python), *words[1:]],
            "govconnect": [str(venv_python), "-c", GOVCONNECT, *words[1:]],
            "pip": [
                *(str(venv_python), "-m", "pip", "install", "-q", "--disable-pip-version-check"),
                *("--no-deps", "--no-build-isolation", *words[2:]),
            ],
            "pytest": [str(venv_python), "-m", "pytest", "-p", "no:cacheprovider", *words[1:]],
        }[words[0]]
        result = _run(command, cwd)
        assert result.returncode == 0, (line, result.stdout[-3000:], result.stderr[-2000:])
        outputs[words[0] + (" " + words[1] if len(words) > 1 else "")] = result.stdout
    assert " 0 failed" in outputs["govconnect check"]
    assert "drafted value(s) still to be decided" in outputs["govconnect catalog"]
    assert " passed" in outputs["pytest"] and "failed" not in outputs["pytest"]


def test_fields_named_or_titled_by_the_dictionary_get_their_data_element(tmp_path: Path) -> None:
    """XM is 姓名 by its abbreviation, 出生日期 by its own name, GMSFHM the key element once its
    values are citizen IDs; a status and an update time carry no element (nothing to compare)."""
    db = tmp_path / "rk.sqlite"
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE RK (GMSFHM VARCHAR(18) PRIMARY KEY, XM VARCHAR(50),"
                " 出生日期 VARCHAR(8), ZT VARCHAR(2), GXSJ TIMESTAMP)"
            )
        )
        conn.execute(
            sa.text("INSERT INTO RK VALUES ('11010519491231002X', 'x', '19491231', '1', NULL)")
        )
    engine.dispose()
    project, context = render_from_db(f"sqlite:///{db}", tmp_path / "out", {"connector_name": "rk"})
    elements = {f["column"]: f["element"] for f in context["tables"][0]["fields"]}
    assert elements == {
        "GMSFHM": "公民身份号码",
        "XM": "姓名",
        "出生日期": "出生日期",
        "ZT": None,
        "GXSJ": None,
    }
    records = (project / context["package"] / "records.py").read_text(encoding="utf-8")
    compile(records, "records.py", "exec")
    for element in ("公民身份号码", "姓名", "出生日期"):
        assert f'element="{element}"' in records
    assert records.count("\n        element=") == 3
