"""Fuzzing the intake bridge (issue 13): hostile case ids, hostile form values and elements that
break the contract, through the real bridge against the mock platform on loopback, into the
household legacy database (SQLite) and back through the outbox.

For every round hypothesis builds, the properties are:

* the round never raises, and no case is blamed on the department (``internal``);
* every pulled case with a usable id ends acknowledged with exactly one status delivered
  (``accepted`` or ``returned``), and every element without one is reported ``malformed``;
* no legacy column ever holds a stringified object or list, nor a value over the column's length.

Bounded (small ``max_examples``, no deadline) so the file stays well under 20 s.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from govconnect_household import sample_cases
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govconnect.bridge.bridge import fingerprint, identify
from govconnect.testing import MockPlatform
from tests.test_intake_bridge import NODE, Rig

FUZZ = settings(
    max_examples=int(os.environ.get("GOVCONNECT_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
"""60 examples per property in CI (a few seconds); ``GOVCONNECT_FUZZ_EXAMPLES=2000`` to hunt."""

# Form text never holds "{" or "[": a column that does was fed a stringified object or list.
leaf_text = st.text(st.characters(blacklist_characters="{["), max_size=30)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | leaf_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(leaf_text, inner, max_size=3),
    max_leaves=6,
)
case_ids = st.one_of(
    st.text(max_size=70),  # any Unicode scalar values, NUL and control characters included
    st.sampled_from([".", "..", "a/b", "../x", "办件-0001", "%2F", " ", "\x00", "[/x]"]),
    st.text(st.characters(categories=["Cs", "Lo", "Cc"]), min_size=1, max_size=4),  # surrogates
)
malformed = st.one_of(
    st.lists(st.integers(), max_size=2),
    st.integers(),
    st.none(),
    st.fixed_dictionaries({"matter_code": st.text(max_size=5)}),
    st.fixed_dictionaries({"case_id": st.integers() | st.booleans() | st.just("")}),
)
FORM_FIELDS = ["gender", "ethnicity", "birth_date", "from_province", "from_address", "to_address"]


class Fuzz:
    """One platform, legacy database and bridge for the whole module; ids kept unique."""

    def __init__(self, platform: MockPlatform, tmp: Path) -> None:
        self.rig = Rig(platform, tmp)
        self.used: set[Any] = set()
        self.numbers = itertools.count(1)
        self.rounds = self.cases = self.malformed = self.written = self.returned = 0
        self.reported: set[str] = set()  # digests of malformed elements reported so far
        self.table = self.rig.registry.connector("household").applications  # type: ignore[attr-defined]

    def case(self, case_id: str, form: dict[str, Any]) -> dict[str, Any]:
        (base,) = sample_cases(1, seed=next(self.numbers))
        return {**base, "case_id": case_id, "form": {**base["form"], **form}}

    def round(self, elements: list[Any]) -> None:
        """File the elements, run one round, deliver, and check every property."""
        expected: dict[str, None] = {}
        new_malformed: set[str] = set()
        for element in elements:
            self.rig.platform.enqueue_raw(element, node=NODE)
            case_id = element.get("case_id") if isinstance(element, dict) else None
            if isinstance(case_id, str) and case_id and _utf8(case_id):
                expected[case_id] = None
            elif fingerprint(element) not in self.reported:
                new_malformed.add(fingerprint(element))
        report = self.rig.bridge.run_once()  # must not raise
        self.rig.deliver()
        self.rounds += 1
        self.cases += len(expected)
        self.malformed += report.malformed
        self.written += report.written
        self.returned += report.returned
        internal = [o for o in report.outcomes for p in o.problems if p.rule == "internal"]
        assert not internal, internal
        assert report.deferred == 0, [o.problems for o in report.outcomes]
        assert report.malformed == len(new_malformed)  # each reported once, then skipped
        self.reported |= new_malformed
        acked = self.rig.platform.acknowledged_cases
        statuses = self.rig.platform.case_statuses
        for case_id in expected:
            assert case_id in acked, case_id
            assert [s["status"] for s in statuses[case_id]] in (["accepted"], ["returned"])
        self.check_legacy_columns(list(expected))
        self.withdraw_malformed()

    def withdraw_malformed(self) -> None:
        """Take the malformed elements off the platform, as its operators would: nobody can
        acknowledge them, and the pull has no cursor, so more than the pull's maximum (1,000) of
        them at the head of the queue would hide every case behind (see docs/intake.md)."""
        state = self.rig.platform._state
        with state.lock:
            state.cases[NODE] = [c for c in state.cases[NODE] if identify(c)[1] is None]

    def check_legacy_columns(self, case_ids: list[str]) -> None:
        engine = sa.create_engine(self.rig.url)
        with engine.connect() as conn:
            query = sa.select(self.table).where(self.table.c.sqbh.in_(case_ids))
            rows = conn.execute(query).mappings().all()
        engine.dispose()
        for row in rows:
            for column in self.table.columns:
                value = row[column.name]
                if column.name == "sqbh" or not isinstance(value, str):
                    continue
                assert "{" not in value and "[" not in value, (column.name, value)
                length = getattr(column.type, "length", None)
                assert length is None or len(value) <= length, (column.name, len(value))

    def unique(self, case_id: str) -> str:
        """The id, or — when an earlier example used it — the id with a counter appended."""
        if case_id in self.used:
            case_id = f"{case_id}~{next(self.numbers)}"
        self.used.add(case_id)
        return case_id


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzz]:
    with MockPlatform(seed=0) as platform:
        state = Fuzz(platform, tmp_path_factory.mktemp("fuzz"))
        yield state
        state.rig.close()
        print(
            f"\nfuzzed {state.rounds} rounds: {state.cases} cases ({state.written} written, "
            f"{state.returned} returned), {state.malformed} malformed elements"
        )


@FUZZ
@given(ids=st.lists(case_ids, min_size=1, max_size=4), bad=st.lists(malformed, max_size=2))
def test_fuzzed_case_ids_never_break_the_round(fuzz: Fuzz, ids: list[str], bad: list[Any]) -> None:
    elements: list[Any] = [fuzz.case(fuzz.unique(i), {}) for i in ids]
    fuzz.round([*bad, *elements])


@FUZZ
@given(
    forms=st.lists(
        st.dictionaries(st.sampled_from(FORM_FIELDS), json_values), min_size=1, max_size=3
    )
)
def test_fuzzed_form_values_are_returned_or_written_never_stringified(
    fuzz: Fuzz, forms: list[dict[str, Any]]
) -> None:
    fuzz.round([fuzz.case(f"F-{next(fuzz.numbers)}", form) for form in forms])
