"""Hostile input at the intake edge (issue 13), one class at a time, against real parts: the mock
platform on loopback, the household legacy database (SQLite, PostgreSQL, MariaDB), the outbox.

1. Case ids are any non-empty text: they travel percent-encoded and the mock routes them.
2. One case's failure never aborts the round; contract-breaking elements are reported once.
3. A form value of the wrong shape returns the case at once, naming form field and target.
4. Values are checked against the target's own limits before anything is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from govconnect_household import sample_cases
from pydantic import BaseModel, Field

from govconnect import (
    Const,
    ExchangeClient,
    FileDropSink,
    FixedField,
    FixedWidthLayout,
    From,
    InvalidInputError,
    MappingContext,
    RetryPolicy,
    apply_mapping,
)
from govconnect.exchange import platform as P
from govconnect.testing import MockPlatform
from tests.test_intake_bridge import NODE, Rig, intake_cli, statuses

HOSTILE_IDS = [
    "办件-0001",
    "a/b",
    ".",
    "..",
    "../../etc/passwd",
    "with space",
    "tab\tand\nnewline",
    "%2F%2E",
    "x?y#z&w=1",
    "[/x]",
    "emoji-😀",
]


@pytest.fixture
def rig(mock_platform: MockPlatform, tmp_path: Path) -> Any:
    r = Rig(mock_platform, tmp_path)
    yield r
    r.close()


def cases_with(ids: list[str], seed: int = 40, **form: Any) -> list[dict[str, Any]]:
    out = []
    for case_id, case in zip(ids, sample_cases(len(ids), seed=seed), strict=True):
        out.append({**case, "case_id": case_id, "form": {**case["form"], **form}})
    return out


def legacy_columns(rig: Rig) -> list[Any]:
    return [value for row in rig.legacy_rows() for value in row]


# --- 1. case ids ------------------------------------------------------------------------------


def test_case_ids_of_any_text_are_written_acknowledged_and_reported(rig: Rig) -> None:
    cases = cases_with(HOSTILE_IDS)
    rig.submit(cases)
    report = rig.bridge.run_once()
    assert (report.written, report.returned, report.deferred) == (len(cases), 0, 0)
    assert sorted(r.sqbh for r in rig.legacy_rows()) == sorted(HOSTILE_IDS)
    assert rig.platform.acknowledged_cases == set(HOSTILE_IDS)
    rig.deliver()
    for case_id in HOSTILE_IDS:
        assert statuses(rig.platform, case_id) == ["accepted"], case_id
    assert rig.bridge.run_once().pulled == 0  # nothing comes back: every ack reached its case


def test_paths_and_the_case_header_are_percent_encoded_utf8() -> None:
    assert P.case_ack_path("办件/1") == "/v1/intake/cases/%E5%8A%9E%E4%BB%B6%2F1/ack"
    assert P.case_status_path("..") == "/v1/intake/cases/%2E%2E/status"
    assert P.encode_case_id("HJ-2026_01") == "HJ-2026_01"  # plain ids travel unchanged
    for case_id in HOSTILE_IDS:
        assert P.decode_case_id(P.encode_case_id(case_id)) == case_id
        assert P.encode_case_id(case_id).isascii()
    with pytest.raises(InvalidInputError, match="UTF-8"):
        P.encode_case_id("bad\ud800")


def test_the_mock_refuses_a_header_that_names_another_case(mock_platform: MockPlatform) -> None:
    case = mock_platform.enqueue_case(case_id="办件/1", node=NODE)
    client = ExchangeClient(
        mock_platform.url,
        token=mock_platform.token,
        node=NODE,
        user_id="u",
        retry=RetryPolicy(max_attempts=1),
    )
    with client:
        client.ack_case(case["case_id"])  # path and X-Case-Id decode to the same id
        with pytest.raises(Exception, match="another case"):
            client._request("POST", P.case_ack_path("办件/1"), case_id="办件/2")
    assert mock_platform.acknowledged_cases == {"办件/1"}


def test_a_lone_surrogate_id_is_refused_not_a_crash(rig: Rig) -> None:
    good = cases_with(["OK-1"])
    bad = {**good[0], "case_id": "办件\ud800"}
    rig.platform.enqueue_raw(bad, node=NODE)
    rig.submit(good)
    report = rig.bridge.run_once()
    assert (report.malformed, report.written) == (1, 1)
    (malformed,) = [o for o in report.outcomes if o.outcome == "malformed"]
    assert malformed.problems[0].rule == "unicode"
    json.dumps(report.as_dict(), ensure_ascii=False).encode()  # printable as JSON
    again = rig.bridge.run_once()
    assert (again.pulled, again.malformed, again.ignored) == (0, 0, 1)  # not re-processed


def test_drop_file_names_never_leave_the_folder(tmp_path: Path) -> None:
    sink = FileDropSink(tmp_path / "inbox", format="json")
    for case_id in HOSTILE_IDS:
        data, manifest = sink.paths(case_id)
        assert data.parent == manifest.parent == tmp_path / "inbox"
        assert not data.name.startswith(".")
        assert sink.write(case_id, {"x": "1"}).applied
        assert sink.verify(case_id)
    with pytest.raises(InvalidInputError, match=r"file\.name_length"):
        sink.paths("长" * 60)


# --- 2. one case never aborts the round --------------------------------------------------------


def test_contract_breaking_elements_are_counted_once_and_block_nothing(rig: Rig) -> None:
    good = cases_with(["G-1", "G-2"])
    for element in (["not", "an", "object"], 42, None, {"matter_code": "x"}, {"case_id": 7}):
        rig.platform.enqueue_raw(element, node=NODE)
    rig.platform.enqueue_raw({"case_id": "", "matter_code": "x"}, node=NODE)
    rig.submit(good)
    report = rig.bridge.run_once()
    assert (report.malformed, report.written) == (6, 2)
    rules = sorted(p.rule for o in report.outcomes if o.outcome == "malformed" for p in o.problems)
    assert rules == ["required", "required", "type", "type", "type", "type"]
    assert len(report.as_dict()["malformed_reasons"]) == 6
    assert rig.platform.acknowledged_cases == {"G-1", "G-2"}
    again = rig.bridge.run_once()
    assert (again.pulled, again.malformed, again.ignored) == (0, 0, 6)


def test_a_failing_mapping_context_or_ack_is_one_case_only(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = cases_with(["M-1", "M-2", "M-3"])
    rig.submit(cases)
    real_for_case = MappingContext.for_case.__func__  # type: ignore[attr-defined]

    def for_case(cls: Any, case: Any, *args: Any) -> Any:
        if case.case_id == "M-1":
            raise RuntimeError("bug")
        return real_for_case(cls, case, *args)

    real_ack = rig.client.ack_case

    def ack(case_id: str, **trace: Any) -> None:
        if case_id == "M-2":
            raise ConnectionError("ack lost")
        real_ack(case_id, **trace)

    monkeypatch.setattr(MappingContext, "for_case", classmethod(for_case))
    monkeypatch.setattr(rig.client, "ack_case", ack)
    report = rig.bridge.run_once()
    assert (report.deferred, report.written, report.ack_failures) == (1, 2, 1)
    assert rig.platform.acknowledged_cases == {"M-3"}
    monkeypatch.undo()
    again = rig.bridge.run_once()
    assert (again.written, again.already_processed) == (1, 1)  # M-1 now, M-2 re-acknowledged
    assert rig.platform.acknowledged_cases == {"M-1", "M-2", "M-3"}
    assert len(rig.legacy_rows()) == 3


def test_intake_run_reports_malformed_and_escapes_markup(
    mock_platform: MockPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from govconnect.cli import build

    args, env = intake_cli(mock_platform, tmp_path, monkeypatch, residents=5)
    mock_platform.enqueue_raw({"matter_code": "no id"}, node=NODE)
    for case in cases_with(["办件-1", "[/x]"]):
        case["form"]["from_address"] = {"street": "建国路"} if case["case_id"] == "[/x]" else "1号"
        mock_platform.enqueue_case(case, node=NODE)
    result = CliRunner().invoke(build(), [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["written"], summary["returned"], summary["malformed"]) == (1, 1, 1)
    assert summary["malformed_reasons"] == ["case_id: the pulled case has no case id [required]"]
    assert "[/x]" in summary["returned_reasons"]
    mock_platform.enqueue_case(
        cases_with(["[bold]y"], seed=41, to_address="长" * 201)[0], node=NODE
    )
    table = CliRunner().invoke(build(), args, env=env)
    assert table.exit_code == 0, table.output
    assert "[bold]y" in table.output and "Returned cases" in table.output


# --- 3. wrong shapes are the citizen's to fix ------------------------------------------------


def test_an_object_in_a_concat_is_returned_at_once_never_stringified(rig: Rig) -> None:
    (case,) = cases_with(["S-1"], from_address={"street": "建国路"})
    rig.submit([case])
    report = rig.bridge.run_once()
    assert (report.returned, report.deferred) == (1, 0)  # at once, not after three rounds
    (problem,) = report.outcomes[0].problems
    assert (problem.field, problem.rule) == ("mapping.qcd", "type")
    assert "form.from_address is an object" in problem.message
    assert rig.legacy_rows() == []
    rig.deliver()
    assert statuses(rig.platform, "S-1") == ["returned"]


def test_wrong_shapes_name_the_form_field_and_the_target(rig: Rig) -> None:
    cases = cases_with(["S-2"], to_address=["建国路", "1号"])
    cases += cases_with(["S-3"], seed=42, birth_date=19900501)
    cases += cases_with(["S-4"], seed=43, gender={"x": 1})
    rig.submit(cases)
    report = rig.bridge.run_once()
    assert report.returned == 3 and report.deferred == 0
    found = {o.case_id: o.problems[0] for o in report.outcomes}
    assert (found["S-2"].field, found["S-2"].rule) == ("mapping.qrd", "target.type")
    assert "(from form.to_address)" in found["S-2"].message
    assert (found["S-3"].field, found["S-3"].rule) == ("mapping.csrq", "date")
    assert (found["S-4"].field, found["S-4"].rule) == ("mapping.xb", "type")
    assert not any("{" in str(v) or "[" in str(v) for v in legacy_columns(rig))


def test_file_fields_refuse_objects_instead_of_stringifying(tmp_path: Path) -> None:
    for fmt in ("csv", "xml"):
        sink = FileDropSink(tmp_path / fmt, format=fmt)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError) as refused:
            sink.write("C-1", {"addr": {"street": "建国路"}, "n": "1"})
        assert (refused.value.problems[0].field, refused.value.problems[0].rule) == (
            "addr",
            "target.type",
        )
        assert list((tmp_path / fmt).iterdir()) == []


# --- 4. the target's own limits ----------------------------------------------------------------


def test_an_over_long_value_is_returned_naming_the_column(
    mock_platform: MockPlatform, tmp_path: Path, sql_url: str
) -> None:
    rig = Rig(mock_platform, tmp_path, url=sql_url)
    try:
        long_id = "L" * 65  # the key column is VARCHAR(64)
        cases = cases_with(["L-1", long_id], to_address="长" * 201)  # VARCHAR(200)
        cases += cases_with(["L-3"], seed=44, to_address="长" * 200)
        rig.submit(cases)
        report = rig.bridge.run_once()
        assert (report.returned, report.written, report.deferred) == (2, 1, 0)
        found = {o.case_id: o.problems for o in report.outcomes if o.outcome == "returned"}
        assert [(p.field, p.rule) for p in found["L-1"]] == [("mapping.qrd", "target.max_length")]
        assert "201 characters, at most 200" in found["L-1"][0].message
        assert ("mapping.sqbh", "target.max_length") in [(p.field, p.rule) for p in found[long_id]]
        assert [r.sqbh for r in rig.legacy_rows()] == ["L-3"]
        assert rig.platform.acknowledged_cases == {"L-1", long_id, "L-3"}
    finally:
        rig.close()


def test_database_sink_checks_types_ranges_and_nul(tmp_path: Path) -> None:
    from govconnect import DatabaseSink

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    table = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.String(10), primary_key=True),
        sa.Column("n", sa.SmallInteger),
        sa.Column("amount", sa.Numeric(5, 2)),
        sa.Column("born", sa.Date),
        sa.Column("note", sa.String(5), nullable=False),
    )
    table.metadata.create_all(engine)
    sink = DatabaseSink(engine, table, key="id")
    with pytest.raises(InvalidInputError) as refused:
        sink.write("C-1", {"n": 40000, "amount": "12345.6", "born": 19900501, "note": "a\x00b"})
    rules = {p.field: p.rule for p in refused.value.problems}
    assert rules == {
        "n": "target.range",
        "amount": "target.range",
        "born": "target.type",
        "note": "target.text",
    }
    assert sink.write("C-1", {"n": "12", "amount": 1.5, "born": "1990-05-01", "note": "ok"}).applied
    with engine.connect() as conn:
        assert conn.execute(sa.select(table.c.n, table.c.born)).one() == (
            12,
            __import__("datetime").date(1990, 5, 1),
        )
    engine.dispose()


def test_fixed_width_and_model_targets_are_checked_before_writing(tmp_path: Path) -> None:
    layout = FixedWidthLayout((FixedField("XM", 4), FixedField("ZZ", 6)))
    sink = FileDropSink(tmp_path / "fixed", format="fixed", layout=layout, encoding="gb18030")
    with pytest.raises(InvalidInputError) as overflow:
        sink.write("C-1", {"XM": "张三", "ZZ": "建国路1号"})  # 9 bytes in GB18030 > 6
    assert [(p.field, p.rule) for p in overflow.value.problems] == [("ZZ", "fixed_width.overflow")]
    assert sink.write("C-1", {"XM": "张三", "ZZ": "建国路"}).applied

    class Legacy(BaseModel):
        name: str = Field(max_length=4)
        count: int

    mapping = {"name": From("applicant"), "count": Const(2)}

    class Holder(BaseModel):
        applicant: Any

    ctx = MappingContext.for_case(Holder(applicant="王" * 5))
    with pytest.raises(InvalidInputError) as refused:
        apply_mapping(mapping, ctx, target=Legacy)
    (problem,) = refused.value.problems
    assert (problem.field, problem.rule) == ("mapping.name", "string_too_long")
    assert "(from applicant)" in problem.message


def test_form_values_are_bounded(rig: Rig) -> None:
    cases = cases_with(["B-1"], reason="长" * 70_000)
    deep: Any = "x"
    for _ in range(20):
        deep = {"d": deep}
    cases += cases_with(["B-2"], seed=45, extra=deep)
    rig.submit(cases)
    report = rig.bridge.run_once()
    assert report.returned == 2
    messages = {o.case_id: str(o.problems[0]) for o in report.outcomes}
    assert "form.reason: 70000 characters, at most 65536" in messages["B-1"]
    assert "nested deeper than 16" in messages["B-2"]
