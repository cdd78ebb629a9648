"""The conformance kit: each standard check passes a good connector and fails a bad one, saying why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from govconnect import (
    CitizenId,
    Connector,
    Department,
    LegacySystem,
    Level,
    Record,
    dataset,
    field,
    query,
)
from govconnect.testing import (
    CHECKS,
    Conformance,
    conformance_tests,
    run_conformance,
)
from tests import sample_connector

META = {
    "abstract": "测试",
    "sharing": "unconditional",
    "update_cycle": "daily",
    "published": "2026-01-01",
}


class Plain(Record):
    citizen_id: str = field("公民身份号码", level=Level.SENSITIVE, personal=True, max_length=18)
    district: str = field("行政区划代码", level=Level.PUBLIC, personal=True, max_length=6)


class Lookup(BaseModel):
    citizen_id: CitizenId


class Sloppy(Connector):
    """Declares valid services whose behaviour breaks the standard checks."""

    name = "sloppy"
    department = Department(code="DEPT02", name="测试局")
    system = LegacySystem(code="SYS02", name="测试系统")

    @dataset(code="111112001/0201", name="名录", key="citizen_id", **META)
    def everyone(self) -> Iterator[Plain]:
        return [Plain(citizen_id="11010519491231002X", district="110105")]  # type: ignore[return-value]

    @query(code="111112001/0202", name="查询", **META)
    def lookup(self, params: Lookup) -> Iterator[Plain]:
        yield from ()


def results(spec: Conformance) -> dict[tuple[str, str], object]:
    return {(r.check, r.target): r for r in run_conformance(spec)}


def test_the_sample_connector_passes_every_check() -> None:
    spec = Conformance(
        sample_connector.Registry,
        sample_params={"person": {"citizen_id": "11010519491231002X"}},
    )
    found = run_conformance(spec)
    expected = {c.name for c in CHECKS if c.targets(sample_connector.Registry)}
    assert {r.check for r in found} == expected
    assert "exchange_round_trip" in expected
    assert [r.report() for r in found if r.status != "passed"] == []


def test_bad_behaviour_fails_the_matching_checks() -> None:
    found = results(
        Conformance(Sloppy, sample_params={"lookup": {"citizen_id": "11010519491231002X"}})
    )
    streams = found[("dataset_streams", "sloppy.everyone")]
    assert streams.status == "failed"
    assert streams.outcome.problems[0].rule == "dataset.streams"
    no_records = found[("sample_query", "sloppy.lookup")]
    assert no_records.outcome.problems[0].rule == "conformance.no_records"
    classified = found[("fields_classified", "sloppy.everyone")]
    assert [p.rule for p in classified.outcome.problems] == ["item.personal_public"]
    masked = found[("personal_masked", "sloppy.everyone")]
    assert [p.rule for p in masked.outcome.problems] == ["masking.identity_type"]
    assert found[("catalog_entry", "sloppy.everyone")].status == "passed"


def test_missing_sample_params_are_named() -> None:
    found = results(Conformance(Sloppy))
    outcome = found[("sample_query", "sloppy.lookup")].outcome
    assert outcome.problems[0].rule == "conformance.sample_params"
    assert "sample_params=" in outcome.problems[0].message


def test_invalid_sample_params_fail_with_the_field() -> None:
    found = results(Conformance(Sloppy, sample_params={"lookup": {"citizen_id": "123"}}))
    assert found[("sample_query", "sloppy.lookup")].outcome.problems[0].field == (
        "sloppy.lookup.params.citizen_id"
    )


def test_invalid_declaration_is_one_failed_result() -> None:
    class Unclassified(Record):
        name: str

    class Broken(Connector):
        name = "broken"
        department = Department(code="DEPT03", name="测试局")
        system = LegacySystem(code="SYS03", name="测试系统")

        @query(code="111112001/0301", name="查询", record=Unclassified, **META)
        def lookup(self) -> Iterator[Unclassified]:
            yield from ()

    [result] = run_conformance(Conformance(Broken))
    assert result.check == "declaration" and result.status == "failed"
    assert result.outcome.problems[0].rule == "item.classified"


def test_legacy_factory_forms_and_setup_failure(tmp_path: Path) -> None:
    seen: list[str] = []

    def generator_factory(folder: Path) -> Iterator[dict[str, str]]:
        seen.append("up")
        yield {}
        seen.append("down")

    run_conformance(
        Conformance(sample_connector.Registry, legacy=generator_factory), workdir=tmp_path
    )
    assert seen == ["up", "down"]

    def failing(folder: Path) -> dict[str, str]:
        raise OSError("disk full")

    found = results(Conformance(sample_connector.Registry, legacy=failing))
    outcome = found[("sample_query", "people.people")].outcome
    assert "disk full" in outcome.problems[0].message


def test_conformance_tests_builds_one_test_per_check() -> None:
    cls = conformance_tests(sample_connector.Registry)
    assert cls.__name__ == "TestConformance"
    assert {n for n in vars(cls) if n.startswith("test_")} == {
        f"test_{c.name}" for c in CHECKS if c.targets(sample_connector.Registry)
    }


def test_conformance_tests_for_a_broken_declaration_fails_in_one_test() -> None:
    class Nameless(Connector):
        department = Department(code="DEPT04", name="测试局")
        system = LegacySystem(code="SYS04", name="测试系统")

    cls = conformance_tests(Nameless)
    assert [n for n in vars(cls) if n.startswith("test_")] == ["test_declaration"]


def test_a_long_list_of_bad_records_says_how_many_and_shows_the_first_twenty() -> None:
    from govconnect.testing._checks import _sample_query

    class Session:
        def records(self, svc: object) -> list[object]:
            return [{"not": "a record"}] * 25

    svc = sample_connector.Registry.services()["person"]
    outcome = _sample_query.run(Session(), svc)  # type: ignore[arg-type]
    assert outcome.status == "failed" and len(outcome.problems) == 20
    assert outcome.detail == "25 problem(s) (the first 20 shown)"
    assert outcome.problems[0].rule == "conformance.record_type"
