"""Properties of the identity rules, checked on bounded generated inputs (hypothesis).

The fast paths exist for speed only: each property here pins them to the plain rule-by-rule
definition, so a faster validator can never accept or reject differently.
"""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from govconnect import (
    CitizenId,
    CitizenIdRules,
    CreditCode,
    IdentityError,
    IdentityKind,
    citizen_id_check_char,
    credit_code_check_char,
    organization_code_check_char,
    upgrade_citizen_id,
)
from govconnect.catalog.identity.checks import (
    ID_WEIGHTS,
    USCC_ALPHABET,
    org_check_in_credit_code,
    uscc_check,
)
from govconnect.catalog.identity.regions import PROVINCES

BOUNDED = settings(max_examples=100, deadline=None)
DIGITS = "0123456789"
UPGRADE = CitizenIdRules(first_generation="upgrade")

digits = st.text(DIGITS, min_size=17, max_size=17)
provinces = st.sampled_from(sorted(set(PROVINCES) - {"81", "82"}))
births_1900s = st.dates(date(1900, 1, 1), date(1999, 12, 31))


@st.composite
def first_generation(draw: st.DrawFn) -> str:
    born = draw(births_1900s)
    rest = draw(st.text(DIGITS, min_size=4, max_size=4))
    seq = draw(st.text(DIGITS, min_size=3, max_size=3))
    return f"{draw(provinces)}{rest}{born:%y%m%d}{seq}"


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    born = draw(st.dates(date(1800, 1, 1), date(2020, 12, 31)))
    rest = draw(st.text(DIGITS, min_size=4, max_size=4))
    first17 = f"{draw(provinces)}{rest}{born:%Y%m%d}{draw(st.text(DIGITS, min_size=3, max_size=3))}"
    return first17 + citizen_id_check_char(first17)


def outcome(parse: object, value: object) -> str:
    """``ok:<value>`` or the rule that failed: what two validators must agree on."""
    try:
        return f"ok:{parse(value)}"  # type: ignore[operator]
    except IdentityError as exc:
        return exc.rule


@BOUNDED
@given(digits)
def test_citizen_check_char_is_the_weighted_sum(first17: str) -> None:
    total = sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True))
    assert citizen_id_check_char(first17) == "10X98765432"[total % 11]


@BOUNDED
@given(st.text(USCC_ALPHABET, min_size=17, max_size=17))
def test_credit_code_checks_by_int_equal_the_loops(first17: str) -> None:
    code = first17 + "0"
    assert uscc_check(code) == credit_code_check_char(first17)
    assert org_check_in_credit_code(code) == organization_code_check_char(first17[8:16])


@BOUNDED
@given(first_generation())
def test_upgrade_round_trips(old: str) -> None:
    """Upgrading inserts 19 and appends the check; dropping them gives the old number back."""
    new = CitizenId.parse(old, rules=UPGRADE)
    assert new.kind is IdentityKind.RESIDENT
    assert new[:6] + new[8:17] == old
    assert CitizenId.parse(new) == new == upgrade_citizen_id(old)
    kept = CitizenId.parse(old, rules=CitizenIdRules(first_generation="accept"))
    assert (kept.birth_date, kept.gender_code, kept.upgraded()) == (
        new.birth_date,
        new.gender_code,
        new,
    )


@BOUNDED
@given(valid_ids(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_every_single_substitution_is_caught(valid: str, at: int, char: str) -> None:
    """MOD 11-2 detects every single-character error: a typo never yields a valid number."""
    assert CitizenId.parse(valid) == valid
    typo = valid[:at] + char + valid[at + 1 :]
    if typo != valid:
        assert not outcome(CitizenId.parse, typo).startswith("ok:")


@BOUNDED
@given(valid_ids(), st.integers(0, 16))
def test_every_adjacent_transposition_is_caught(valid: str, at: int) -> None:
    swapped = valid[:at] + valid[at + 1] + valid[at] + valid[at + 2 :]
    if swapped != valid:
        assert not outcome(CitizenId.parse, swapped).startswith("ok:")


# anything a legacy column might hold, biased towards near-valid numbers
near_ids = st.one_of(
    valid_ids(),
    st.text("0123456789X", min_size=18, max_size=18),
    st.builds(lambda v, c: v[:17] + c, valid_ids(), st.sampled_from("0123456789Xx")),
    st.builds(
        lambda v, d: v[:6] + d + v[14:], valid_ids(), st.text(DIGITS, min_size=8, max_size=8)
    ),
)


@settings(max_examples=400, deadline=None)
@given(near_ids)
def test_the_fast_path_decides_like_the_rules(value: str) -> None:
    """``CitizenIdRules()`` equals the default but is not the same object, so it takes the
    rule-by-rule path; both must accept the same numbers and name the same failed rule."""
    assert outcome(CitizenId.parse, value) == outcome(
        lambda v: CitizenId.parse(v, rules=CitizenIdRules()), value
    )


@st.composite
def near_codes(draw: st.DrawFn) -> str:
    """Credit codes with either check character right or wrong, in the alphabet or not."""
    first16 = draw(st.text(USCC_ALPHABET, min_size=16, max_size=16))
    any_char = st.sampled_from(USCC_ALPHABET + "IOZSV")
    org = organization_code_check_char(first16[8:]) if draw(st.booleans()) else draw(any_char)
    first17 = first16 + org
    right = org in USCC_ALPHABET and draw(st.booleans())
    return first17 + (credit_code_check_char(first17) if right else draw(any_char))


@settings(max_examples=400, deadline=None)
@given(near_codes())
def test_credit_code_fast_path_decides_like_the_rules(value: str) -> None:
    """A padded value skips the fast path (it must be normalised first)."""
    assert outcome(CreditCode.parse, value) == outcome(CreditCode.parse, f" {value} ")
