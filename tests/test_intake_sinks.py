"""The three sinks: database write, data-file drop, legacy API — transactional, idempotent by case."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from govconnect import (
    ApiSink,
    DatabaseSink,
    FileDropSink,
    FixedField,
    FixedWidthLayout,
    InvalidInputError,
    RetryableError,
)
from govconnect.testing._databases import unique_name

VALUES = {
    "xm": "张三",
    "sfzh": "11010519491231002X",
    "csrq": "19491231",
    "sqsj": datetime(2026, 11, 21, 8, 30),
}


# --- database write -----------------------------------------------------------------------------


@pytest.fixture
def legacy_db(sql_url: str):
    engine = sa.create_engine(sql_url)
    metadata = sa.MetaData()
    table = sa.Table(
        unique_name("sq"),
        metadata,
        sa.Column("sqbh", sa.String(64), primary_key=True),
        sa.Column("xm", sa.String(50), nullable=False),
        sa.Column("sfzh", sa.String(18), nullable=False),
        sa.Column("csrq", sa.String(8), nullable=False),
        sa.Column("sqsj", sa.DateTime, nullable=False),
    )
    child = sa.Table(
        unique_name("cl"),
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sqbh", sa.String(64), nullable=False),
        sa.Column("mc", sa.String(50), nullable=False),
    )
    metadata.create_all(engine)
    try:
        yield engine, table, child
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def rows(engine: sa.Engine, table: sa.Table) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(table)))


def test_database_sink_writes_one_row_and_keeps_it_on_redelivery(legacy_db) -> None:
    engine, table, _ = legacy_db
    sink = DatabaseSink(engine, table, key="sqbh")
    first = sink.write("C-1", VALUES)
    assert first.applied and first.reference == f"{table.name}:C-1"
    with engine.begin() as conn:  # a clerk moves the case on in the legacy system
        conn.execute(table.update().values(xm="已受理"))
    again = sink.write("C-1", {**VALUES, "xm": "张三丰"})
    assert not again.applied
    (row,) = rows(engine, table)
    assert row.xm == "已受理"  # the redelivery did not undo the clerk's work
    sink.write("C-2", VALUES)
    assert len(rows(engine, table)) == 2


def test_database_sink_can_update_on_redelivery(legacy_db) -> None:
    engine, table, _ = legacy_db
    sink = DatabaseSink(engine, table, key="sqbh", on_conflict="update")
    assert sink.write("C-1", VALUES).applied
    assert not sink.write("C-1", {**VALUES, "xm": "张三丰"}).applied
    (row,) = rows(engine, table)
    assert row.xm == "张三丰"
    with pytest.raises(ValueError, match="on_conflict"):
        DatabaseSink(engine, table, key="sqbh", on_conflict="merge")  # type: ignore[arg-type]


def test_a_unique_violation_on_another_column_is_refused_not_retried(sql_url: str) -> None:
    engine = sa.create_engine(sql_url)
    table = sa.Table(
        unique_name("uq"),
        sa.MetaData(),
        sa.Column("sqbh", sa.String(64), primary_key=True),
        sa.Column("sfzh", sa.String(18), nullable=False, unique=True),
    )
    table.create(engine)
    try:
        sink = DatabaseSink(engine, table, key="sqbh")
        sink.write("C-1", {"sfzh": "11010519491231002X"})
        with pytest.raises(InvalidInputError) as info:
            sink.write("C-2", {"sfzh": "11010519491231002X"})
        (problem,) = info.value.problems
        assert problem.rule == "database.integrity"
        assert "11010519491231002X" not in problem.message  # values are redacted
        assert len(rows(engine, table)) == 1
    finally:
        table.drop(engine)
        engine.dispose()


def test_database_sink_is_one_transaction_per_case(legacy_db) -> None:
    engine, table, child = legacy_db

    def materials(conn: sa.Connection, case_id: str, values: Any) -> None:
        conn.execute(child.insert().values(sqbh=case_id, mc="户口簿"))
        raise RuntimeError("legacy trigger failed")

    sink = DatabaseSink(engine, table, key="sqbh", extra=materials)
    with pytest.raises(RuntimeError):
        sink.write("C-1", VALUES)
    assert rows(engine, table) == [] and rows(engine, child) == []


def test_database_sink_refuses_unknown_columns_and_bad_data(legacy_db) -> None:
    engine, table, _ = legacy_db
    sink = DatabaseSink(engine, table, key="sqbh")
    with pytest.raises(InvalidInputError) as info:
        sink.write("C-1", {**VALUES, "nosuch": 1})
    assert info.value.problems[0].rule == "column.unknown"
    with pytest.raises(InvalidInputError) as info:
        sink.write("C-2", {k: v for k, v in VALUES.items() if k != "xm"})
    assert info.value.problems[0].rule in ("database.integrity", "database.refused")
    assert rows(engine, table) == []


def test_database_sink_down_is_retryable(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path}/nodir/x.sqlite")
    table = sa.Table("t", sa.MetaData(), sa.Column("sqbh", sa.String, primary_key=True))
    with pytest.raises(RetryableError, match="legacy database unavailable"):
        DatabaseSink(engine, table, key="sqbh").write("C-1", {})


def test_database_sink_needs_its_key_column() -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.String, primary_key=True))
    with pytest.raises(ValueError, match="no column 'sqbh'"):
        DatabaseSink(sa.create_engine("sqlite://"), table, key="sqbh")


# --- data-file transfer ------------------------------------------------------------------------------

LAYOUT = FixedWidthLayout(
    (
        FixedField("sfzh", 18),
        FixedField("xm", 20),
        FixedField("csrq", 8),
        FixedField("je", 10, align="right", pad="0"),
    )
)


@pytest.mark.parametrize("fmt", ["json", "csv", "xml"])
@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
def test_file_drop_formats_and_encodings(tmp_path: Path, fmt: str, encoding: str) -> None:
    sink = FileDropSink(tmp_path, format=fmt, encoding=encoding)  # type: ignore[arg-type]
    result = sink.write("C-1", VALUES)
    assert result.applied
    data_path, manifest_path = sink.paths("C-1")
    text = data_path.read_bytes().decode(encoding)
    assert "张三" in text and "11010519491231002X" in text
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    assert manifest["encoding"] == encoding and manifest["format"] == fmt
    assert sink.verify("C-1")
    if fmt == "json":
        assert json.loads(text)["sqsj"] == "2026-11-21T08:30:00"


def test_fixed_width_counts_bytes_in_gb18030(tmp_path: Path) -> None:
    sink = FileDropSink(tmp_path, format="fixed", encoding="gb18030", layout=LAYOUT, checksum="sm3")
    sink.write("C-1", {**VALUES, "je": 1250})
    data_path, manifest_path = sink.paths("C-1")
    raw = data_path.read_bytes()
    assert raw.endswith(b"\r\n")
    record = raw[:-2]
    assert len(record) == LAYOUT.record_width == 56
    assert record[18:22] == "张三".encode("gb18030")  # 2 characters, 4 bytes
    assert LAYOUT.decode(record, "gb18030") == {
        "sfzh": "11010519491231002X",
        "xm": "张三",
        "csrq": "19491231",
        "je": "1250",
    }
    assert json.loads(manifest_path.read_text())["checksum"]["algorithm"] == "sm3"
    assert sink.verify("C-1")


def test_fixed_width_overflow_names_the_field(tmp_path: Path) -> None:
    sink = FileDropSink(tmp_path, format="fixed", encoding="gb18030", layout=LAYOUT)
    with pytest.raises(InvalidInputError) as info:
        sink.write("C-1", {**VALUES, "xm": "欧阳" * 6})  # 12 characters = 24 bytes > 20
    (problem,) = info.value.problems
    assert (problem.field, problem.rule) == ("xm", "fixed_width.overflow")
    assert list(tmp_path.iterdir()) == []


def test_file_drop_replay_does_not_write_twice(tmp_path: Path) -> None:
    sink = FileDropSink(tmp_path)
    assert sink.write("C-1", VALUES).applied
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert not sink.write("C-1", {**VALUES, "xm": "李四"}).applied
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before


def test_crash_between_write_and_rename_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = FileDropSink(tmp_path, format="csv", encoding="gb18030")
    real_replace = os.replace

    def crash(src: Any, dst: Any) -> None:
        raise OSError("power lost")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(RetryableError):
        sink.write("C-1", VALUES)
    assert list(tmp_path.iterdir()) == []  # no data file, no manifest, no temp file
    monkeypatch.setattr(os, "replace", real_replace)
    assert sink.write("C-1", VALUES).applied
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C-1.csv", "C-1.manifest.json"]


def test_crash_between_data_and_manifest_is_redone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = FileDropSink(tmp_path)
    real_replace = os.replace
    calls = {"n": 0}

    def second_fails(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("crash before the manifest")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", second_fails)
    with pytest.raises(RetryableError):
        sink.write("C-1", VALUES)
    assert not sink.verify("C-1")  # a reader would not take the file: no manifest
    monkeypatch.setattr(os, "replace", real_replace)
    assert sink.write("C-1", VALUES).applied
    assert sink.verify("C-1")
    assert len(list(tmp_path.iterdir())) == 2


def test_tampered_drop_fails_verification(tmp_path: Path) -> None:
    sink = FileDropSink(tmp_path)
    sink.write("C-1", VALUES)
    data_path, _ = sink.paths("C-1")
    data_path.write_bytes(data_path.read_bytes().replace("张三".encode(), "李四".encode()))
    assert not sink.verify("C-1")


def test_fixed_drop_needs_a_layout(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout"):
        FileDropSink(tmp_path, format="fixed")


# --- parameter passing -----------------------------------------------------------------------------


def api(handler: Any) -> ApiSink:
    client = httpx.Client(base_url="http://legacy.test", transport=httpx.MockTransport(handler))
    return ApiSink(client, "/api/applications")


def test_api_sink_posts_json_with_the_case_as_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"reference": "HJ-2026-001"})

    result = api(handler).write("C-1", VALUES)
    assert result.applied and result.reference == "HJ-2026-001"
    (request,) = seen
    assert request.headers["Idempotency-Key"] == "C-1"
    body = json.loads(request.content)
    assert body["xm"] == "张三" and body["sqsj"] == "2026-11-21T08:30:00"


def test_api_sink_conflict_and_duplicate_mean_already_delivered() -> None:
    assert not api(lambda r: httpx.Response(409)).write("C-1", VALUES).applied
    dup = api(lambda r: httpx.Response(200, json={"id": 7, "duplicate": True})).write("C-1", VALUES)
    assert not dup.applied and dup.reference == "7"


def test_api_sink_refusal_names_fields() -> None:
    body = {"problems": [{"field": "sfzh", "rule": "format", "message": "bad"}]}
    with pytest.raises(InvalidInputError) as info:
        api(lambda r: httpx.Response(422, json=body)).write("C-1", VALUES)
    assert (info.value.problems[0].field, info.value.problems[0].rule) == ("sfzh", "format")
    with pytest.raises(InvalidInputError) as info:
        api(lambda r: httpx.Response(400, text="bad request")).write("C-1", VALUES)
    assert info.value.problems[0].rule == "http_400"


def test_api_sink_counts_a_2xx_without_json_as_delivered() -> None:
    result = api(lambda r: httpx.Response(200, text="OK")).write("C-1", VALUES)
    assert result.applied and result.reference is None


@pytest.mark.parametrize("status", [401, 403, 408, 429, 500, 503])
def test_api_sink_transient_failures_are_retryable(status: int) -> None:
    with pytest.raises(RetryableError):
        api(lambda r: httpx.Response(status)).write("C-1", VALUES)


def test_api_sink_unreachable_is_retryable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(RetryableError, match="unreachable"):
        api(refuse).write("C-1", VALUES)
