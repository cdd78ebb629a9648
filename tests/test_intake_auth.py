"""The applicant's one-window authentication on a case (issue 19, item 4), against real parts: the
mock platform on loopback, the household legacy database, the outbox and its intake journal on
SQLite and PostgreSQL.

A case carries ``applicant_auth`` (issuer, level, method, time), validated at the edge; a matter may
require a minimum level (``@intake(min_auth_level=)``), below which the case is returned naming the
rule and never written; the journal keeps the level with the case.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from govconnect_household import sample_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from govconnect import (
    Case,
    ConfigurationError,
    Connector,
    Department,
    From,
    IntakeJournal,
    LegacySystem,
    Outbox,
    intake,
)
from govconnect._validation import problems_from_pydantic
from govconnect.bridge.report import CaseOutcome
from govconnect.cases.auth import AUTH_LEVELS, ApplicantAuth, auth_level_rank
from govconnect.cli.intake import print_report
from govconnect.testing import MOCK_WINDOW_ISSUER, MockPlatform, applicant_auth
from tests.outbox_support import ENGINES, outbox_location
from tests.test_conformance_intake import CASE, MATTER, Registration, results
from tests.test_intake_bridge import NODE, Rig, statuses

MOVE_IN = "11010500000-HJ-0001"


def requiring(rig: Rig, level: str | None) -> None:
    """The household move-in matter, as if declared with ``min_auth_level=level``."""
    handler = rig.bridge.handlers[MOVE_IN]
    rig.bridge.handlers[MOVE_IN] = dataclasses.replace(handler, min_auth_level=level)


def moved_in(seed: int, *ids: str) -> dict[str, dict[str, Any]]:
    """Household move-in cases with the given ids (no authentication block yet)."""
    cases = sample_cases(len(ids), seed=seed)
    return {case_id: {**case, "case_id": case_id} for case_id, case in zip(ids, cases, strict=True)}


@pytest.fixture(params=ENGINES)
def rig(
    request: pytest.FixtureRequest, mock_platform: MockPlatform, tmp_path: Path
) -> Iterator[Rig]:
    with outbox_location(request.param, tmp_path) as location:
        r = Rig(mock_platform, tmp_path, outbox=location)
        yield r
        r.close()


# --- the block at the edge ------------------------------------------------------------------


def case_with(auth: Any) -> dict[str, Any]:
    return {**CASE, "applicant_auth": auth}


def edge_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        Case.model_validate(raw)
    return [(p.field, p.rule) for p in problems_from_pydantic(info.value, "case")]


def test_a_case_without_authentication_counts_as_the_lowest_level() -> None:
    case = Case.model_validate(CASE)
    assert case.applicant_auth is None and case.auth_level == "none"
    assert Case.model_validate(case_with(None)).auth_level == "none"
    assert list(AUTH_LEVELS) == ["none", "L1", "L2", "L3", "L4"]  # the documented order
    assert auth_level_rank("none") < auth_level_rank("L1") < auth_level_rank("L4")


def test_a_valid_block_is_kept_with_its_issuer_method_and_time() -> None:
    case = Case.model_validate(case_with(applicant_auth("L3")))
    assert case.auth_level == "L3"
    assert case.applicant_auth is not None
    assert (case.applicant_auth.issuer, case.applicant_auth.method) == (MOCK_WINDOW_ISSUER, "face")
    beijing = {
        "issuer": "https://iam.example",
        "level": "L1",
        "authenticated_at": "2026-01-05T09:00:00+08:00",
    }
    assert Case.model_validate(case_with(beijing)).applicant_auth.method is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"level": "L9"}, "case.applicant_auth.level", "auth_level.unknown"),
        ({"level": 3}, "case.applicant_auth.level", "auth_level.unknown"),
        ({"level": "none"}, "case.applicant_auth.level", "auth_level.unknown"),
        ({"issuer": ""}, "case.applicant_auth.issuer", "string_too_short"),
        ({"issuer": "x" * 257}, "case.applicant_auth.issuer", "string_too_long"),
        ({"issuer": "iam\n"}, "case.applicant_auth.issuer", "text.control"),
        ({"issuer": "iam\ud800"}, "case.applicant_auth.issuer", "string_unicode"),
        ({"method": "m" * 65}, "case.applicant_auth.method", "string_too_long"),
        (
            {"authenticated_at": "2026-01-05T09:00:00"},
            "case.applicant_auth.authenticated_at",
            "auth_time.timezone",
        ),
        (
            {"authenticated_at": "yesterday"},
            "case.applicant_auth.authenticated_at",
            "datetime_from_date_parsing",
        ),
        ({"token": "eyJ…"}, "case.applicant_auth.token", "extra_forbidden"),
    ],
)
def test_a_broken_block_is_refused_naming_the_field(
    change: dict[str, Any], field: str, rule: str
) -> None:
    assert edge_problems(case_with({**applicant_auth("L2"), **change})) == [(field, rule)]


def test_an_authentication_in_the_future_is_refused_but_clock_skew_is_not() -> None:
    soon = datetime.now(UTC) + timedelta(minutes=2)
    later = datetime.now(UTC) + timedelta(hours=1)
    assert Case.model_validate(case_with(applicant_auth("L2", at=soon))).auth_level == "L2"
    problems = edge_problems(case_with(applicant_auth("L2", at=later)))
    assert problems == [("case.applicant_auth.authenticated_at", "auth_time.future")]
    assert edge_problems(case_with("L3")) == [("case.applicant_auth", "model_type")]


# --- the minimum level of a matter -----------------------------------------------------------


def test_an_unknown_minimum_level_is_refused_when_declared_naming_the_parameter() -> None:
    with pytest.raises(
        ConfigurationError, match=r"min_auth_level: unknown authentication level 'L5'"
    ):

        class Typo(Connector):
            name = "typo"
            department = Department(code="D1", name="部门")
            system = LegacySystem(code="S1", name="系统")

            @intake(
                matter_code="M1",
                name="申请",
                target={"xm": True},
                mapping={"xm": From("applicant.name")},
                min_auth_level="L5",
            )
            def apply(self) -> Any:
                raise AssertionError("never built")

    with pytest.raises(ConfigurationError, match="min_auth_level"):
        intake(matter_code="M", name="n", target={}, mapping={}, min_auth_level="none")(len)


class Strict(Registration):
    """The conformance fixture's connector, with its matter requiring a real-person login."""

    name = "strict"

    @intake(
        matter_code=MATTER,
        name="登记",
        target={"sfzh": True, "xm": True},
        mapping={"sfzh": From("applicant.citizen_id"), "xm": From("applicant.name")},
        min_auth_level="L3",
    )
    def register(self) -> Any:
        return Registration.register(self)


def test_conformance_shows_the_requirement_and_refuses_a_sample_case_below_it() -> None:
    from govconnect.testing import Conformance

    assert Strict.intake_handlers()[MATTER].min_auth_level == "L3"
    good = results(Conformance(Strict, sample_cases={MATTER: case_with(applicant_auth("L4"))}))
    assert "applicants at level ≥ L3" in good["intake_mapping"].outcome.detail
    low = results(Conformance(Strict, sample_cases={MATTER: CASE}))
    [problem] = low["intake_mapping"].outcome.problems
    assert (problem.field, problem.rule) == (
        "strict.register.sample_case.applicant_auth.level",
        "intake.min_auth_level",
    )
    assert "level none" in problem.message


def test_cases_below_the_minimum_are_returned_naming_the_rule_and_never_written(
    rig: Rig, capsys: pytest.CaptureFixture[str]
) -> None:
    requiring(rig, "L3")
    cases = moved_in(70, "AT-L3", "AT-L4", "AT-L2", "NO-AUTH", "BAD-AUTH")
    cases["AT-L3"]["applicant_auth"] = applicant_auth("L3")
    cases["AT-L4"]["applicant_auth"] = applicant_auth("L4", method="cert")
    cases["AT-L2"]["applicant_auth"] = applicant_auth("L2", issuer="https://iam.hebei.test")
    cases["BAD-AUTH"]["applicant_auth"] = {**applicant_auth("L3"), "level": "L3+"}
    rig.submit(list(cases.values()))
    report = rig.bridge.run_once()
    assert (report.pulled, report.written, report.returned, report.deferred) == (5, 2, 3, 0)
    assert sorted(r.sqbh for r in rig.legacy_rows()) == ["AT-L3", "AT-L4"]
    returned = {o.case_id: o.problems for o in report.outcomes if o.outcome == "returned"}
    [low] = returned["AT-L2"]
    assert (low.field, low.rule) == ("applicant_auth.level", "intake.min_auth_level")
    assert low.message == (
        f"matter {MOVE_IN} (户口迁入登记) requires authentication level ≥ L3; "
        "the applicant authenticated at level L2 by issuer https://iam.hebei.test"
    )
    [none] = returned["NO-AUTH"]
    assert (
        none.rule == "intake.min_auth_level"
        and "carries no applicant authentication" in none.message
    )
    [bad] = returned["BAD-AUTH"]
    assert (bad.field, bad.rule) == ("case.applicant_auth.level", "auth_level.unknown")
    assert report.as_dict()["auth_levels"] == {"L2": 1, "L3": 1, "L4": 1, "none": 1}
    print_report(report)  # the summary the operator reads says it too
    assert "applicants authenticated at: L2 1, L3 1, L4 1, none 1" in capsys.readouterr().out

    rig.deliver()
    assert rig.platform.acknowledged_cases == set(cases)
    for case_id in ("AT-L2", "NO-AUTH", "BAD-AUTH"):
        [posted] = rig.platform.case_statuses[case_id]
        assert posted["status"] == "returned" and posted["reasons"] == [
            str(p) for p in returned[case_id]
        ]
    assert statuses(rig.platform, "AT-L3") == ["accepted"]
    # reported once: a redelivery is acknowledged again, never written nor reported twice
    assert rig.bridge.process(cases["AT-L2"]).outcome == "already_processed"
    assert rig.bridge.process(cases["AT-L3"]).outcome == "already_processed"
    assert rig.outbox.pending() == 0 and len(rig.legacy_rows()) == 2

    kept = {case_id: rig.journal.entry(case_id) for case_id in cases}
    assert {k: e["auth_level"] for k, e in kept.items() if e} == {
        "AT-L3": "L3",
        "AT-L4": "L4",
        "AT-L2": "L2",
        "NO-AUTH": "none",
        "BAD-AUTH": None,  # never validated: its level is not known
    }
    l4 = kept["AT-L4"]
    assert l4 is not None and (l4["outcome"], l4["auth_issuer"], l4["auth_method"]) == (
        "written",
        MOCK_WINDOW_ISSUER,
        "cert",
    )
    assert datetime.fromisoformat(l4["auth_at"]) <= datetime.now(UTC)
    assert kept["AT-L2"]["problems"][0]["rule"] == "intake.min_auth_level"  # type: ignore[index]
    assert rig.journal.entry("never-seen") is None


def test_without_a_minimum_every_level_is_written(rig: Rig) -> None:
    cases = moved_in(71, "ANY-1", "ANY-2")
    rig.platform.enqueue_case(cases["ANY-1"], node=NODE, auth_level="L1")
    rig.platform.enqueue_case(cases["ANY-2"], node=NODE)
    report = rig.bridge.run_once()
    assert (report.written, report.returned) == (2, 0)
    assert rig.journal.entry("ANY-1")["auth_level"] == "L1"  # type: ignore[index]
    assert rig.journal.entry("ANY-2")["auth_level"] == "none"  # type: ignore[index]


# --- the journal of an earlier release -------------------------------------------------------

_OLD_TABLES = """
CREATE TABLE IF NOT EXISTS intake_cases (
    case_id TEXT PRIMARY KEY, matter_code TEXT NOT NULL, outcome TEXT NOT NULL,
    reference TEXT, problems TEXT NOT NULL, fields INTEGER NOT NULL, at double precision NOT NULL);
CREATE TABLE IF NOT EXISTS intake_status_sent (
    case_id TEXT NOT NULL, status TEXT NOT NULL, at double precision NOT NULL,
    PRIMARY KEY (case_id, status));
CREATE TABLE IF NOT EXISTS intake_claims (
    case_id TEXT PRIMARY KEY, owner TEXT NOT NULL, lease_until double precision NOT NULL);
INSERT INTO intake_cases VALUES ('OLD-1', 'M', 'written', 'R-1', '[]', 3, 0)
"""


def test_a_journal_of_an_earlier_release_gains_the_level_columns(outbox_at: str) -> None:
    with Outbox(outbox_at) as box:
        box.create_tables("intake_journal", _OLD_TABLES, "intake_claims")
        journal = IntakeJournal(box)
        old = journal.entry("OLD-1")
        assert old is not None and (old["outcome"], old["auth_level"]) == ("written", None)
        auth = ApplicantAuth.model_validate(applicant_auth("L2"))
        outcome = CaseOutcome("NEW-1", "M", "written", reference="R-2", auth_level="L2", auth=auth)
        box.enqueue_status("NEW-1", "accepted", within=journal.recorder(outcome, "accepted"))
        assert IntakeJournal(box).entry("NEW-1")["auth_issuer"] == MOCK_WINDOW_ISSUER  # type: ignore[index]
    with Outbox(outbox_at) as box:  # opened again: nothing to migrate, the rows are there
        again = IntakeJournal(box)
        assert again.entry("NEW-1")["auth_level"] == "L2"  # type: ignore[index]
        assert again.finished("OLD-1") == "written"


# --- fuzz of the block at the edge -----------------------------------------------------------


def _mostly(valid: st.SearchStrategy[Any], *junk: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``valid`` three times in four, else one of ``junk`` (``|`` would flatten them all into
    equal odds, and a block would almost never be valid as a whole)."""
    return st.sampled_from([True, True, True, False]).flatmap(
        lambda ok: valid if ok else st.one_of(*junk)
    )


# About a quarter of the blocks pass and are written; the others are returned.
_now = datetime.now(UTC).replace(tzinfo=None)
_blocks = _mostly(
    st.fixed_dictionaries(
        {
            "issuer": _mostly(
                st.sampled_from([MOCK_WINDOW_ISSUER, "https://统一身份认证.example/r"]),
                st.text(max_size=300),
                st.sampled_from(["", "\ud800", "a\x00b", "x" * 257]),
            ),
            "level": _mostly(
                st.sampled_from(["L1", "L2", "L3", "L4"]),
                st.sampled_from(["none", "l2", "L 2", "", "L10"]),
                st.integers(),
                st.none(),
            ),
            "authenticated_at": _mostly(
                st.datetimes(max_value=_now, timezones=st.just(UTC)).map(datetime.isoformat),
                st.datetimes(min_value=_now + timedelta(hours=1), timezones=st.just(UTC)).map(
                    datetime.isoformat
                ),
                st.datetimes().map(datetime.isoformat),  # no UTC offset
                st.sampled_from(["", "not a time", "0001-01-01T00:00:00-14:00"]),
                st.integers(),
            ),
        },
        optional={"method": _mostly(st.sampled_from(["face", None]), st.text(max_size=80))},
    ),
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=10), st.integers(), max_size=3),
)
_numbers = itertools.count(1)


@pytest.fixture
def fuzz_rig(mock_platform: MockPlatform, tmp_path: Path) -> Iterator[Rig]:
    """One rig (SQLite) shared by every example of a fuzz run (hypothesis calls the test body
    many times within one fixture): building one per example would take most of the run."""
    r = Rig(mock_platform, tmp_path)
    yield r
    r.close()


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(block=_blocks)
def test_fuzzed_blocks_are_written_or_returned_naming_the_block_never_a_crash(
    fuzz_rig: Rig, block: Any
) -> None:
    rig = fuzz_rig
    case_id = f"FUZZ-{next(_numbers)}"
    raw = {**moved_in(72, case_id)[case_id], "applicant_auth": block}
    outcome = rig.bridge.process(raw)
    entry = rig.journal.entry(case_id)
    assert entry is not None
    if outcome.outcome == "written":
        level = "none" if block is None else block["level"]
        assert entry["auth_level"] == level and level in AUTH_LEVELS
        if block is not None:
            assert entry["auth_issuer"] == block["issuer"] and entry["auth_issuer"].isprintable()
    else:
        assert outcome.outcome == "returned", outcome
        assert outcome.problems and all(
            p.field.startswith("case.applicant_auth") for p in outcome.problems
        ), outcome.problems
        assert entry["auth_level"] is None
