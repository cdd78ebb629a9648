"""``govconnect discover sql`` through the real entry point: bad input, outputs, drift, exit codes.

Every operational fault is one line on stderr starting ``error:`` — no traceback, never the
password — and exit 1; a table that fails is named while the others are still discovered; usage
errors exit 2; drift against a catalog exits 3 (0 when there is none).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from govconnect import (
    CitizenId,
    Connector,
    Department,
    LegacySystem,
    Level,
    NoParams,
    Record,
    dataset,
    discover,
    field,
    hookimpl,
    load_registry,
    to_json,
)
from govconnect._config import MASK
from govconnect.testing import legacy_schema
from govconnect.testing._databases import database_url, unique_name

EXE = str(Path(sys.executable).with_name("govconnect"))
SECRET = "s3cret-Pa55"


def govconnect(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=_env()
    )


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "COLUMNS": "200"}


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert SECRET not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sample legacy schema (no prefix) in a SQLite file."""
    path = tmp_path_factory.mktemp("legacy") / "legacy.sqlite"
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    legacy_schema().create(engine)
    engine.dispose()
    yield url


# --- outputs ---------------------------------------------------------------------------------------


def test_json_report_with_contract_keys(sample_db: str) -> None:
    proc = govconnect("discover", "sql", sample_db, "--table", "rk_jbxx", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["url"] == sample_db
    (table,) = data["tables"]
    assert table["name"] == "rk_jbxx" and table["key"] == ["gmsfhm"]
    assert table["columns"][0]["identity"] == "citizen_id"


def test_human_report_is_a_table_per_table(sample_db: str) -> None:
    proc = govconnect("discover", "sql", sample_db, "--table", "rk_jbxx", "--table", "qy_djxx")
    assert proc.returncode == 0, proc.stderr
    assert "rk_jbxx  rows≈300  key=gmsfhm  replication key=gxsj" in proc.stdout
    assert "qy_djxx  rows≈300  key=tyshxydm" in proc.stdout
    assert "citizen_id" in proc.stdout and "credit_code" in proc.stdout


def test_output_file_and_sample_bound(sample_db: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    proc = govconnect("discover", "sql", sample_db, "--sample", "50", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and "wrote discovery report (12 tables)" in proc.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["sample_size"] == 50
    assert {t["sampled_rows"] for t in data["tables"]} == {50, 0}


def test_password_is_removed_from_the_url(tmp_path: Path) -> None:
    url = database_url("postgresql", tmp_path)
    with_password = sa.make_url(url).set(password=SECRET)
    found = discover(with_password.render_as_string(hide_password=False), tables=["nope"])
    assert SECRET not in json.dumps(found.as_dict()) and MASK in found.url


# --- bad input -------------------------------------------------------------------------------------


def test_unreachable_database() -> None:
    proc = govconnect("discover", "sql", f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:1/test")
    assert_one_line_failure(
        proc, "cannot connect to postgresql+psycopg://postgres:********@127.0.0.1:1/test"
    )


def test_bad_credentials_mariadb(tmp_path: Path) -> None:
    url = sa.make_url(database_url("mariadb", tmp_path)).set(password=SECRET)
    proc = govconnect("discover", "sql", url.render_as_string(hide_password=False))
    assert_one_line_failure(proc, "cannot connect", "Access denied")


def test_unknown_role_postgresql(tmp_path: Path) -> None:
    url = sa.make_url(database_url("postgresql", tmp_path)).set(username="no_such_role_gc")
    proc = govconnect("discover", "sql", url.render_as_string(hide_password=False))
    assert_one_line_failure(proc, "cannot connect", "no_such_role_gc")


def test_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "absent.sqlite"
    proc = govconnect("discover", "sql", f"sqlite:///{missing}")
    assert_one_line_failure(proc, "does not exist")
    assert not missing.exists()


@pytest.mark.parametrize("url", ["not a url", "nosuchdialect://x/y"])
def test_malformed_url_or_unknown_dialect(url: str) -> None:
    assert_one_line_failure(govconnect("discover", "sql", url))


def test_missing_table_is_named_and_the_others_are_discovered(sample_db: str) -> None:
    proc = govconnect(
        "discover",
        "sql",
        sample_db,
        "--table",
        "nope",
        "--table",
        "xm_jbxx",
        "--table",
        "rk_jbxx",
        "--json",
    )
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert [t["name"] for t in data["tables"] if t["error"] is None] == ["rk_jbxx"]
    assert "error: table 'nope' does not exist" in proc.stderr
    assert "error: table 'xm_jbxx' does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_schema(tmp_path: Path) -> None:
    url = database_url("postgresql", tmp_path)
    assert_one_line_failure(
        govconnect("discover", "sql", url, "--schema", "no_such_schema_gc"), "no_such_schema_gc"
    )


def test_usage_errors_exit_2(sample_db: str) -> None:
    assert govconnect("discover", "sql", sample_db, "--sample", "0").returncode == 2
    assert govconnect("discover", "sql").returncode == 2


def test_empty_binary_quoted_chinese_and_mixed_case_tables(sample_db: str) -> None:
    # "hj_hzxx" finds HJ_HZXX: a table name is matched regardless of case when only one fits
    tables = ("临时登记", "hj_hzxx", "fj_clxx", "rz_czrz")
    proc = govconnect(
        "discover", "sql", sample_db, *(a for t in tables for a in ("--table", t)), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    found = {t["name"]: t for t in json.loads(proc.stdout)["tables"]}
    assert found["临时登记"]["rows_estimate"] == 0 and found["临时登记"]["key"] is None
    assert found["HJ_HZXX"]["key"] == ["HH"]
    (blob,) = [c for c in found["fj_clxx"]["columns"] if c["name"] == "wjnr"]
    assert blob["data_type"] == "G" and blob["sampled"] is False
    assert {"desc", "ip dz"} <= {c["name"] for c in found["rz_czrz"]["columns"]}


def test_very_wide_table_is_sampled_within_the_cell_budget(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wide.sqlite'}"
    engine = sa.create_engine(url)
    md = sa.MetaData()
    table = sa.Table("kb_wide", md, *(sa.Column(f"c{i}", sa.String(10)) for i in range(2000)))
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{f"c{i}": f"v{r}" for i in range(2000)} for r in range(300)])
    engine.dispose()
    started = time.monotonic()
    proc = govconnect("discover", "sql", url, "--json")
    assert proc.returncode == 0, proc.stderr
    (found,) = json.loads(proc.stdout)["tables"]
    assert len(found["columns"]) == 2000 and found["sampled_rows"] == 100
    assert any(
        "sampled at most 100 rows: the table has 2000 columns" in r for r in found["reasons"]
    )
    assert time.monotonic() - started < 60


def test_statements_past_the_timeout_are_interrupted_and_reported_per_table(sample_db: str) -> None:
    report = discover(sample_db, tables=["rk_jbxx", "dm_xzqh"], timeout=1e-9)
    assert all(t.error and "cannot sample (statement timed out" in t.error for t in report.tables)


def test_permission_denied_on_one_table_postgresql(tmp_path: Path) -> None:
    url = database_url("postgresql", tmp_path)
    admin = sa.create_engine(url)
    role = unique_name("gc_reader")
    schema = legacy_schema(prefix=unique_name("gcp") + "_")
    schema.specs = schema.specs[:2]
    schema.create(admin)
    allowed, denied = schema.table_names
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
            conn.exec_driver_sql(f'GRANT SELECT ON "{allowed}" TO "{role}"')
        reader = sa.make_url(url).set(username=role)
        proc = govconnect(
            "discover",
            "sql",
            reader.render_as_string(False),
            "--table",
            allowed,
            "--table",
            denied,
            "--json",
        )
        assert proc.returncode == 1
        data = json.loads(proc.stdout)
        ok, failed = data["tables"]
        assert ok["error"] is None and ok["columns"]
        assert "permission denied" in failed["error"] and denied in failed["error"]
        assert f"error: table '{denied}': cannot sample (permission denied" in proc.stderr
        assert "Traceback" not in proc.stderr
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'REVOKE ALL ON "{allowed}" FROM "{role}"')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        schema.drop(admin)
        admin.dispose()


# --- drift -----------------------------------------------------------------------------------------


class PersonRecord(Record):
    citizen_id: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, max_length=30)
    gender: str = field("性别代码", level=Level.INTERNAL, personal=True, max_length=1)
    birth_date: date = field("出生日期", level=Level.SENSITIVE, personal=True)
    phone: str = field("联系电话", level=Level.SENSITIVE, personal=True, max_length=20)
    region_code: int = field("行政区划代码", level=Level.PUBLIC)
    email: str = field("电子邮箱", level=Level.SENSITIVE, personal=True, max_length=100)
    updated_at: datetime = field("更新时间", level=Level.INTERNAL)


class People(Connector):
    name = "people_register"
    department = Department(code="DEPT01", name="测试局")
    system = LegacySystem(code="RK", name="人口库")

    @dataset(
        code="111112001/0901",
        name="人口基本信息",
        abstract="人口基本信息",
        sharing="conditional",
        conditions="凭办件编号",
        update_cycle="daily",
        published="2026-01-15",
        key="citizen_id",
    )
    def people(self, params: NoParams) -> Iterator[PersonRecord]:
        yield from ()


def catalog_file(tmp_path: Path) -> Path:
    plugin = SimpleNamespace(
        register_connectors=hookimpl(lambda: [People]), __name__="people_plugin"
    )
    reg = load_registry(plugins=[plugin], entry_points=False, config={})
    assert not reg.errors, reg.errors
    path = tmp_path / "catalog.json"
    path.write_text(to_json(reg.catalog()), encoding="utf-8")
    return path


def test_drift_against_a_catalog_export_exits_3(sample_db: str, tmp_path: Path) -> None:
    proc = govconnect(
        "discover", "sql", sample_db, "--against", str(catalog_file(tmp_path)), "--json"
    )
    assert proc.returncode == 3, proc.stderr
    (result,) = json.loads(proc.stdout)["drift"]
    assert result["tables"] == {"111112001/0901": "rk_jbxx"}
    (change,) = result["changed"]
    assert set(change["items_added"]) == {"mz", "jzdz"}
    assert change["items_removed"] == ["email"]
    changed = {c["name"]: c["changes"] for c in change["items_changed"]}
    assert changed == {
        "name": {"length": [30, 50]},  # lengthened
        "region_code": {"data_type": ["I", "C"]},  # retyped
    }
    human = govconnect("discover", "sql", sample_db, "--against", str(catalog_file(tmp_path)))
    assert human.returncode == 3
    assert "~ item name: length: 30 -> 50" in human.stdout and "- item email" in human.stdout


def test_no_drift_against_the_installed_household_connector(tmp_path: Path) -> None:
    seeded = govconnect("household", "seed", "--count", "50", cwd=tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    url = "sqlite:///.govconnect/household.sqlite"
    proc = govconnect("discover", "sql", url, "--against-installed", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "resource 111112001/0002 compared with table hj_resident" in proc.stdout
    assert "no schema drift" in proc.stdout


def test_against_a_missing_catalog_file(sample_db: str, tmp_path: Path) -> None:
    proc = govconnect("discover", "sql", sample_db, "--against", str(tmp_path / "none.json"))
    assert_one_line_failure(proc, "no such file")
