"""Conformance checks of intake handlers: mapping coverage with a sample case, writes once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from govconnect import (
    Connector,
    Department,
    FileDropSink,
    From,
    LegacySystem,
    SinkResult,
    intake,
)
from govconnect.testing import CheckResult, Conformance, run_conformance

MATTER = "DEPT09-DJ-0001"
CASE = {
    "case_id": "DJ2026000001",
    "matter_code": MATTER,
    "applicant": {"kind": "person", "name": "张三", "citizen_id": "11010519491231002X"},
    "form": {"reason": "投靠亲属"},
    "submitted_at": "2026-01-05T09:30:00+08:00",
}


class DropSettings(BaseModel):
    folder: Path = Path("inbox")


class AlwaysNew:
    """A sink that forgets what it wrote: every delivery is applied again."""

    def write(self, case_id: str, values: Mapping[str, Any]) -> SinkResult:
        return SinkResult(applied=True, reference=case_id)

    def close(self) -> None:
        """Nothing to release."""


registration = intake(
    matter_code=MATTER,
    name="登记",
    target={"sfzh": True, "xm": True, "yy": True},
    mapping={
        "sfzh": From("applicant.citizen_id"),
        "xm": From("applicant.name"),
        "yy": From("form.reason", required=False),
    },
)
"""The one intake declaration both connectors below make; only their sinks differ."""


class Registration(Connector):
    name = "registration"
    department = Department(code="DEPT09", name="测试局")
    system = LegacySystem(code="SYS09", name="登记系统")
    Settings = DropSettings

    @registration
    def register(self) -> FileDropSink:
        return FileDropSink(self.settings.folder, format="json")


class Forgetful(Registration):
    name = "forgetful"

    @registration
    def register(self) -> AlwaysNew:  # type: ignore[override]
        return AlwaysNew()


def inbox(folder: Path) -> dict[str, str]:
    return {"folder": str(folder / "inbox")}


def results(spec: Conformance) -> dict[str, CheckResult]:
    return {r.check: r for r in run_conformance(spec)}


def test_handler_with_sample_case_passes(tmp_path: Path) -> None:
    found = results(Conformance(Registration, sample_cases={MATTER: CASE}, legacy=inbox))
    assert set(found) == {"intake_mapping", "intake_writes"}
    assert [r.report() for r in found.values() if r.status != "passed"] == []
    assert "3 fields mapped" in found["intake_mapping"].outcome.detail


def test_missing_sample_case_is_named() -> None:
    found = results(Conformance(Registration, legacy=inbox))
    problem = found["intake_mapping"].outcome.problems[0]
    assert problem.rule == "conformance.sample_case"
    assert MATTER in problem.message


def test_required_field_left_empty_by_the_sample_case() -> None:
    case = {**CASE, "form": {}}
    found = results(Conformance(Registration, sample_cases={MATTER: case}, legacy=inbox))
    [problem] = found["intake_mapping"].outcome.problems
    assert (problem.field, problem.rule) == (
        "registration.register.mapping.yy",
        "intake.required_empty",
    )


def test_invalid_sample_case_fails_with_the_field() -> None:
    case = {**CASE, "applicant": {**CASE["applicant"], "citizen_id": "110105194912310021"}}
    found = results(Conformance(Registration, sample_cases={MATTER: case}, legacy=inbox))
    assert (
        found["intake_mapping"]
        .outcome.problems[0]
        .field.startswith("registration.register.sample_case.applicant")
    )


def test_sink_that_applies_a_redelivery_again_fails() -> None:
    found = results(Conformance(Forgetful, sample_cases={MATTER: CASE}, legacy=inbox))
    assert found["intake_mapping"].status == "passed"
    assert [p.rule for p in found["intake_writes"].outcome.problems] == ["intake.idempotent"]


def test_conformance_tests_has_intake_tests() -> None:
    from govconnect.testing import conformance_tests

    cls = conformance_tests(Registration, sample_cases={MATTER: CASE}, legacy=inbox)
    assert {n for n in vars(cls) if n.startswith("test_")} == {
        "test_intake_mapping",
        "test_intake_writes",
    }


def test_nothing_is_written_without_a_sample_legacy_system(tmp_path: Path) -> None:
    spec = Conformance(
        Registration, sample_cases={MATTER: CASE}, settings={"folder": str(tmp_path / "real")}
    )
    found = results(spec)
    assert found["intake_mapping"].status == "passed"
    assert found["intake_writes"].status == "skipped"
    assert not (tmp_path / "real").exists()
