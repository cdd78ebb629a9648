"""Discovery against real databases: the sample legacy schema on SQLite, PostgreSQL and MariaDB.

Asserted on every backend:

- precision and recall of ``personal`` are at least 0.9, and of ``identity`` at least 0.95
  (the sample's truth: 31 personal columns of 76, 6 identity columns; the schema holds on purpose
  one column no detector can know — a diagnosis — and one office address that looks personal);
- the JSON contract keys are present, and the report is JSON;
- no sampled value appears in the report, JSON or human;
- the database is unchanged (row counts and a content checksum of every table), and the sessions
  discovery opens refuse writes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from govconnect import DiscoveryReport, discover
from govconnect.cli import build
from govconnect.discovery import COLUMN_KEYS, TABLE_KEYS
from govconnect.discovery.sampling import open_engine, sampler_for
from govconnect.testing import LegacySchema, legacy_schema
from govconnect.testing._databases import database_url, unique_name

PERSONAL_MIN = 0.9
IDENTITY_MIN = 0.95


@dataclass
class Legacy:
    backend: str
    url: str
    schema: LegacySchema
    engine: sa.Engine
    report: DiscoveryReport

    def table(self, name: str):  # type: ignore[no-untyped-def]
        return self.report.table(self.schema.prefix + name)


def fingerprint(engine: sa.Engine, schema: LegacySchema) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of the sorted rows of every table."""
    md = schema.metadata()
    out: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for name in schema.table_names:
            rows = sorted(repr(tuple(r)) for r in conn.execute(sa.select(md.tables[name])))
            out[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
    return out


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "mariadb"])
def legacy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Legacy]:
    url = database_url(request.param, tmp_path_factory.mktemp(request.param))
    schema = legacy_schema(prefix=unique_name("gcd") + "_")
    engine = sa.create_engine(url)
    schema.create(engine)
    try:
        before = fingerprint(engine, schema)
        report = discover(url, tables=schema.table_names)
        assert fingerprint(engine, schema) == before, "discovery changed the database"
        yield Legacy(request.param, url, schema, engine, report)
    finally:
        schema.drop(engine)
        engine.dispose()


def rates(legacy: Legacy, aspect: str) -> tuple[float, float]:
    truth = legacy.schema.truth()
    tp = fp = fn = 0
    for table in legacy.report.tables:
        for col in table.columns:
            want = truth[table.name][col.name][aspect]
            got = getattr(col, aspect)
            if aspect == "identity":
                tp += got is not None and got == want
                fp += got is not None and got != want
                fn += want is not None and got != want
            else:
                tp += got and want
                fp += got and not want
                fn += want and not got
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def test_every_table_is_discovered(legacy: Legacy) -> None:
    assert [t.name for t in legacy.report.tables] == legacy.schema.table_names
    assert legacy.report.failed == []


def test_personal_precision_and_recall(legacy: Legacy) -> None:
    precision, recall = rates(legacy, "personal")
    assert precision >= PERSONAL_MIN, precision
    assert recall >= PERSONAL_MIN, recall


def test_identity_precision_and_recall(legacy: Legacy) -> None:
    precision, recall = rates(legacy, "identity")
    assert precision >= IDENTITY_MIN, precision
    assert recall >= IDENTITY_MIN, recall


def test_json_contract(legacy: Legacy) -> None:
    data = json.loads(json.dumps(legacy.report.as_dict()))
    assert set(data) >= {"url", "tables"}
    for table in data["tables"]:
        assert set(table) >= set(TABLE_KEYS)
        for col in table["columns"]:
            assert set(col) >= set(COLUMN_KEYS)
            assert col["data_type"] in "CNYDTLMGBIF" and len(col["data_type"]) == 1
            assert col["title_source"] in ("comment", "dictionary", "none")
            assert col["reasons"] and all(isinstance(r, str) for r in col["reasons"])


def _leaks(text: str, values: set[str]) -> list[str]:
    return [v for v in values if ((len(v) >= 3 and not v.isdigit()) or len(v) >= 6) and v in text]


def test_no_sampled_value_appears_in_the_report(legacy: Legacy) -> None:
    values = legacy.schema.sampled_values()
    assert len(values) > 1000
    as_json = json.dumps(legacy.report.as_dict(), ensure_ascii=False)
    assert _leaks(as_json, values) == []
    human = CliRunner().invoke(
        build(),
        [
            "discover",
            "sql",
            legacy.url,
            *[arg for t in legacy.schema.table_names for arg in ("--table", t)],
        ],
        env={"COLUMNS": "200"},
    )
    assert human.exit_code == 0, human.output
    assert legacy.schema.prefix + "rk_jbxx" in human.output
    assert _leaks(human.output, values) == []


def test_the_discovery_session_refuses_writes(legacy: Legacy) -> None:
    table = sa.table(
        legacy.schema.prefix + "dm_xzqh", sa.column("dm"), sa.column("mc"), sa.column("sjdm")
    )
    engine = open_engine(sa.make_url(legacy.url), timeout=5)
    try:
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.execute(sa.insert(table).values(dm="999999", mc="x", sjdm="1"))
    finally:
        engine.dispose()


def test_what_the_person_register_says(legacy: Legacy) -> None:
    t = legacy.table("rk_jbxx")
    assert t.rows_estimate == 300 and t.sampled_rows == 300
    assert t.key == ["gmsfhm"] and t.replication_key == "gxsj"
    col = {c.name: c for c in t.columns}
    assert col["gmsfhm"].identity == "citizen_id" and col["gmsfhm"].python_type == "CitizenId"
    assert col["xb"].code_table == "gender" and col["mz"].code_table == "ethnicity"
    assert col["csrq"].data_type == "D" and col["csrq"].python_type == "date"
    assert col["csrq"].sql_type.startswith("CHAR") and col["csrq"].length == 8
    assert col["xzqh"].personal is False and col["xzqh"].level == "internal"
    assert all(c.level == "sensitive" for c in t.columns if c.personal)
    expected_source = (
        "dictionary" if legacy.backend == "sqlite" else "comment"
    )  # SQLite keeps no comments
    assert col["xm"].title_source == expected_source and col["xm"].title == "姓名"


def test_tables_without_primary_key_get_a_candidate_from_the_sample(legacy: Legacy) -> None:
    t = legacy.table("qy_djxx")
    assert t.key == ["tyshxydm"]
    assert any("unique in all 300 sampled rows" in r for r in t.reasons)
    assert t.column("tyshxydm").identity == "credit_code"
    assert t.column("tyshxydm").personal is False
    assert t.column("fddbr").personal is True
    assert t.replication_key == "gxsj"


def test_dirty_identity_columns_still_validate_by_share(legacy: Legacy) -> None:
    col = legacy.table("mz_jzdx").column("zjhm")
    assert col.identity == "citizen_id"
    assert legacy.table("mz_jzdx").column("xb").code_table == "gender"  # labels 男/女
    assert legacy.table("HJ_HZXX").column("HZSFZ").identity == "citizen_id"  # by values alone


def test_binary_empty_quoted_and_chinese_names(legacy: Legacy) -> None:
    blob = legacy.table("fj_clxx").column("wjnr")
    assert blob.data_type == "G" and blob.sampled is False
    assert any("binary column" in r for r in blob.reasons)
    empty = legacy.table("临时登记")
    assert empty.rows_estimate == 0 and empty.key is None
    assert empty.column("姓名").personal and empty.column("姓名").title == "姓名"
    log = legacy.table("rz_czrz")
    assert {"desc", "ip dz"} <= {c.name for c in log.columns}
    assert log.key == ["id"] and log.replication_key == "czsj"


def test_a_table_larger_than_the_sample_is_read_bounded(sql_url: str) -> None:
    """Statistics give the estimate (PostgreSQL ``reltuples`` — the sample is then a block
    sample —, MariaDB ``table_rows``); SQLite has none, so a count capped at 100,000 rows does."""
    name = unique_name("gcd_big")
    engine = sa.create_engine(sql_url)
    md = sa.MetaData()
    table = sa.Table(
        name, md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("xm", sa.String(20))
    )
    md.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": i, "xm": f"张{i}"} for i in range(1, 3001)])
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql(f'ANALYZE "{name}"')
            elif engine.dialect.name in ("mysql", "mariadb"):
                conn.exec_driver_sql(f"ANALYZE TABLE `{name}`")
        (found,) = discover(sql_url, tables=[name], sample=100).tables
        assert found.error is None
        assert 0 < found.sampled_rows <= 100
        if engine.dialect.name == "sqlite":
            assert found.rows_estimate == 3000
        else:  # an estimate, not a count: statistics are approximate
            assert 1500 <= (found.rows_estimate or 0) <= 6000
    finally:
        md.drop_all(engine)
        engine.dispose()


def test_a_block_sample_that_finds_no_rows_falls_back_to_the_first_rows(tmp_path: Path) -> None:
    """Stale statistics say a 50-row table holds a billion: the block sample then reads a
    vanishing share of its pages and finds nothing; the sampler reads the first rows instead."""
    url = database_url("postgresql", tmp_path)
    name = unique_name("gcd_stale")
    engine = sa.create_engine(url)
    md = sa.MetaData()
    table = sa.Table(name, md, sa.Column("id", sa.Integer, primary_key=True))
    md.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": i} for i in range(50)])
        reader = open_engine(sa.engine.make_url(url), timeout=10)
        sampler = sampler_for(reader, timeout=10)
        assert sampler.samples_blocks(100, 10**9)
        with reader.connect() as conn:
            sample = sampler.sample(conn, name, None, ["id"], 100, estimate=10**9)
        assert sample.rows == 50 and not sample.exhaustive
        reader.dispose()
    finally:
        md.drop_all(engine)
        engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_a_locked_table_times_out_and_the_others_are_still_discovered(
    backend: str, tmp_path: Path
) -> None:
    """A batch job holds a lock on one table: its sample waits past the statement timeout, is
    cancelled by the server, and only that table is reported failed."""
    url = database_url(backend, tmp_path)
    engine = sa.create_engine(url)
    md = sa.MetaData()
    locked, free = unique_name("gcd_lock"), unique_name("gcd_free")
    for name in (locked, free):
        sa.Table(
            name, md, sa.Column("id", sa.Integer, primary_key=True), sa.Column("xm", sa.String(20))
        )
    md.create_all(engine)
    try:
        with engine.begin() as conn:
            for name in (locked, free):
                conn.execute(md.tables[name].insert(), [{"id": 1, "xm": "王伟"}])
        with engine.connect() as holder:
            if backend == "postgresql":
                holder.exec_driver_sql(f'LOCK TABLE "{locked}" IN ACCESS EXCLUSIVE MODE')
            else:
                holder.exec_driver_sql(f"LOCK TABLES `{locked}` WRITE")
            started = time.monotonic()
            report = discover(url, tables=[locked, free], timeout=1.0)
            elapsed = time.monotonic() - started
            if backend != "postgresql":
                holder.exec_driver_sql("UNLOCK TABLES")
            holder.rollback()
        bad, good = report.tables
        # PostgreSQL already waits for the lock while reflecting the table, MariaDB while sampling
        assert bad.error is not None and locked in bad.error
        assert "statement timed out after 1 s" in bad.error
        assert good.error is None and good.sampled_rows == 1
        assert elapsed < 30
    finally:
        md.drop_all(engine)
        engine.dispose()
