"""Identity validation, the largest single cost of publishing: today's SDK vs the algorithm before
issue 18, in one run.

    python benchmarks/bench_identity.py [--count 200000] [--repeat 5]

``baseline_*`` below are copies of the validators as they were before issue 18 (regex match,
``date.fromisoformat``, a Python loop per check character), kept here so the ratio can be measured
on any machine in one run. The SDK side does *more* (the province part of the address code is now
always checked, residence permits are told apart) and is still expected to be at least 2x faster.
Both sides validate the same seeded numbers — valid ones, as a legacy table holds them — and must
agree on every one; the best of ``--repeat`` runs is reported, as ns per number.
"""

from __future__ import annotations

import argparse
import random
import re
import time
import unicodedata
from collections.abc import Callable
from datetime import date
from operator import mul

from govconnect import (
    CitizenId,
    CreditCode,
    Record,
    citizen_id_check_char,
    credit_code_check_char,
    organization_code_check_char,
)

# --- the baseline: the validators before issue 18 ---------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_OFFSET = 48 * sum(_ID_WEIGHTS)
_PLAIN_ID = re.compile(r"[0-9]{17}[0-9X]")
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_day = [0.0, date.min]


def _today() -> date:
    now = time.monotonic()
    if now - _day[0] > 60:
        _day[:] = [now, date.today()]
    return _day[1]  # type: ignore[return-value]


def _normalise(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("type")
    return unicodedata.normalize("NFKC", value).strip().upper()


class OldCitizenId(str):
    """Stands for the old ``CitizenId``: the old parse also returned a ``str`` subclass."""


class OldCreditCode(str):
    """Stands for the old ``CreditCode``."""


def baseline_citizen_id(value: object) -> str:
    text = value if type(value) is str and _PLAIN_ID.match(value) else _normalise(value)
    if len(text) != 18:
        raise ValueError("length")
    if not _PLAIN_ID.match(text):
        raise ValueError("charset")
    try:
        born = date.fromisoformat(text[6:14])
    except ValueError:
        raise ValueError("birth_date") from None
    if born.year < 1800 or born > _today():
        raise ValueError("birth_date")
    check = "10X98765432"[(sum(map(mul, text[:17].encode(), _ID_WEIGHTS)) - _ID_OFFSET) % 11]
    if text[17] != check:
        raise ValueError("check_digit")
    return OldCitizenId(text)


def baseline_credit_code(value: object) -> str:
    text = _normalise(value)
    if len(text) != 18:
        raise ValueError("length")
    if {c for c in text if c not in _USCC_VALUE}:
        raise ValueError("charset")
    if text[0] == "0" or text[1] == "0" or not text[2:8].isdigit():
        raise ValueError("shape")
    total = sum(_ORG_BODY.index(c) * w for c, w in zip(text[8:16], _ORG_WEIGHTS, strict=True))
    org = {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))
    if text[16] != org:
        raise ValueError("organization_code_check_digit")
    total = sum(_USCC_VALUE[c] * w for c, w in zip(text[:17], _USCC_WEIGHTS, strict=True))
    if text[17] != _USCC_ALPHABET[(31 - total % 31) % 31]:
        raise ValueError("check_digit")
    return OldCreditCode(text)


# --- the numbers ---------------------------------------------------------------------------------------


def citizen_ids(rng: random.Random, count: int) -> list[str]:
    regions = ["110105", "310104", "440305", "510107", "650102", "330106", "810000"]
    out = []
    for _ in range(count):
        born = date(1930, 1, 1).toordinal() + rng.randrange(90 * 365)
        first17 = f"{rng.choice(regions)}{date.fromordinal(born):%Y%m%d}{rng.randrange(1000):03d}"
        out.append(first17 + citizen_id_check_char(first17))
    return out


def credit_codes(rng: random.Random, count: int) -> list[str]:
    out = []
    for _ in range(count):
        body = "".join(rng.choice(_USCC_ALPHABET) for _ in range(8))
        first16 = (
            f"{rng.choice('1259ANY')}{rng.choice('123')}{rng.choice(['110105', '350100'])}{body}"
        )
        first17 = first16 + organization_code_check_char(body)
        out.append(first17 + credit_code_check_char(first17))
    return out


class Resident(Record):
    citizen_id: CitizenId
    employer: CreditCode


def best_pair(
    old: Callable[[], object], new: Callable[[], object], repeat: int
) -> tuple[float, float]:
    """Best CPU time of each, runs interleaved: on a loaded machine (other test suites, two cores)
    wall time measures the neighbours, and interleaving lets both sides see the same load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for side, fn in zip(times, (old, new), strict=True):
            started = time.process_time()
            fn()
            side.append(time.process_time() - started)
    return min(times[0]), min(times[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(18)
    ids, codes = citizen_ids(rng, args.count), credit_codes(rng, args.count)
    assert [CitizenId.parse(v) for v in ids] == [baseline_citizen_id(v) for v in ids]
    assert [CreditCode.parse(v) for v in codes] == [baseline_credit_code(v) for v in codes]
    rows = [{"citizen_id": i, "employer": c} for i, c in zip(ids, codes, strict=True)]
    cases: list[tuple[str, Callable[[], object], Callable[[], object]]] = [
        (
            "citizen ID",
            lambda: [baseline_citizen_id(v) for v in ids],
            lambda: [CitizenId.parse(v) for v in ids],
        ),
        (
            "credit code",
            lambda: [baseline_credit_code(v) for v in codes],
            lambda: [CreditCode.parse(v) for v in codes],
        ),
    ]
    print(f"{args.count:,} valid numbers of each type, best of {args.repeat}")
    print(f"{'':<14}{'baseline ns':>12}{'sdk ns':>10}{'speed-up':>10}")
    per = 1e9 / args.count
    total_old = total_new = 0.0
    for name, old, new in cases:
        t_old, t_new = best_pair(old, new, args.repeat)
        total_old, total_new = total_old + t_old, total_new + t_new
        print(f"{name:<14}{t_old * per:>12.0f}{t_new * per:>10.0f}{t_old / t_new:>9.2f}x")
    print(
        f"{'both':<14}{total_old * per:>12.0f}{total_new * per:>10.0f}"
        f"{total_old / total_new:>9.2f}x  (the hot path; target >= 2x)"
    )
    t_model = best_pair(
        lambda: [Resident.model_validate(r) for r in rows], lambda: None, args.repeat
    )[0]
    print(
        f"a record with both, through pydantic: {t_model * 1e9 / args.count:.0f} ns "
        f"({(total_new / args.count * 1e9) / (t_model * per):.0%} of it is identity validation)"
    )


if __name__ == "__main__":
    main()
