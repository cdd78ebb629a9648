"""Each retry rule of RetryPolicy, with a fake clock and sleep: no test really waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from govconnect import (
    ConfigurationError,
    ExchangeError,
    PlatformRejectedError,
    RetryableError,
    RetryPolicy,
)
from govconnect.exchange.retry import is_retryable, parse_retry_after


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def policy(t: FakeTime, **kw: float) -> RetryPolicy:
    return RetryPolicy(sleep=t.sleep, clock=t.clock, **kw)


def failing(errors: list[BaseException], result: str = "ok"):
    calls = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return result

    return fn, calls


def test_retries_retryable_errors_then_succeeds() -> None:
    t = FakeTime()
    fn, calls = failing([RetryableError("503", status=503), RetryableError("timeout")])
    assert policy(t).retrying()(fn) == "ok"
    assert len(calls) == 3
    assert len(t.sleeps) == 2


@pytest.mark.parametrize(
    "error", [PlatformRejectedError(422, "bad"), ExchangeError("other"), ValueError("bug")]
)
def test_never_retries_what_cannot_succeed_later(error: BaseException) -> None:
    t = FakeTime()
    fn, calls = failing([error])
    with pytest.raises(type(error)):
        policy(t).retrying()(fn)
    assert len(calls) == 1
    assert t.sleeps == []


def test_is_retryable_only_for_retryable_error() -> None:
    assert is_retryable(RetryableError("x"))
    assert not is_retryable(PlatformRejectedError(400, "x"))
    assert not is_retryable(OSError("x"))


def test_gives_up_after_max_attempts_and_reraises_the_last_error() -> None:
    t = FakeTime()
    errors = [RetryableError(f"e{i}") for i in range(10)]
    fn, calls = failing(errors)
    with pytest.raises(RetryableError, match="e2"):
        policy(t, max_attempts=3).retrying()(fn)
    assert len(calls) == 3


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    t = FakeTime()
    fn, _ = failing([RetryableError("x") for _ in range(6)])
    policy(t, initial=0.1, jitter=0.05, max_wait=1.0, max_attempts=7).retrying()(fn)
    for n, slept in enumerate(t.sleeps, start=1):
        base = min(0.1 * 2 ** (n - 1), 1.0)
        assert base <= slept <= base + 0.05
    assert t.sleeps[-1] <= 1.05


def test_retry_after_is_honoured_instead_of_backoff() -> None:
    t = FakeTime()
    fn, _ = failing([RetryableError("429", status=429, retry_after=7.0)])
    policy(t, initial=0.1).retrying()(fn)
    assert t.sleeps == [7.0]


def test_retry_after_is_capped() -> None:
    t = FakeTime()
    fn, _ = failing([RetryableError("503", status=503, retry_after=3600.0)])
    policy(t, max_retry_after=30.0, deadline=100.0).retrying()(fn)
    assert t.sleeps == [30.0]


def test_deadline_stops_before_a_sleep_would_cross_it() -> None:
    t = FakeTime()
    fn, calls = failing([RetryableError("x", retry_after=4.0) for _ in range(10)])
    with pytest.raises(RetryableError):
        policy(t, deadline=10.0, max_attempts=100).retrying()(fn)
    assert t.sleeps == [4.0, 4.0]  # a third 4s wait would end at 12s > 10s
    assert len(calls) == 3
    assert t.now - 1000.0 <= 10.0


def test_retry_after_longer_than_the_deadline_fails_at_once() -> None:
    t = FakeTime()
    fn, calls = failing([RetryableError("x", retry_after=120.0)])
    with pytest.raises(RetryableError):
        policy(t, deadline=60.0).retrying()(fn)
    assert len(calls) == 1 and t.sleeps == []


def test_next_delay_and_gives_up_for_durable_retries() -> None:
    p = RetryPolicy(initial=1.0, jitter=0.0, max_wait=8.0, max_attempts=5, deadline=100.0)
    assert [p.next_delay(n, RetryableError("x")) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 8]
    assert p.next_delay(1, RetryableError("x", retry_after=9.5)) == 9.5
    err = RetryableError("x")
    assert not p.gives_up(1, err, elapsed=0, delay=1)
    assert p.gives_up(5, err, elapsed=0, delay=1)
    assert p.gives_up(1, err, elapsed=99.5, delay=1)
    assert p.gives_up(1, PlatformRejectedError(400, "x"), elapsed=0, delay=1)


def test_policy_is_data() -> None:
    p = RetryPolicy()
    assert p.with_(max_attempts=2) == RetryPolicy(max_attempts=2)
    assert p.with_(max_attempts=2) != p


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("0.25", 0.25),
        (" 3 ", 3.0),
        ("", None),
        (None, None),
        ("soon", None),
        # hostile values are treated as absent (the policy's backoff applies), never nan or inf:
        ("-4", None),
        ("0", None),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("-inf", None),
        ("1e400", None),
        ("1e3", None),
        ("\u0661\u0662", None),  # Arabic-Indic digits: float() takes them, RFC 9110 does not
        ("9" * 400, None),
        ("99999999999999", 99999999999999.0),  # huge but finite: capped by the policy
        ("Mon, 32 Foo 2026 99:99:99 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp) == pytest.approx(30.0)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(earlier, now=now.timestamp) is None  # "at once": use the backoff
    naive = "Thu, 01 Jan 2026 00:00:30 -0000"  # a date without zone information is UTC
    assert parse_retry_after(naive, now=now.timestamp) == pytest.approx(30.0)
    assert parse_retry_after("Thu, 01 Jan 9999 00:00:00 GMT", now=now.timestamp) > 1e9


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "0", "Thu, 01 Jan 1970 00:00:00 GMT"])
def test_a_hostile_retry_after_falls_back_to_the_backoff(value: str) -> None:
    """Before: nan/inf/negative came back as nan/inf/0, a nan wait reached the outbox's
    next_attempt_at and a 0 wait let a platform make the client spin."""
    p = RetryPolicy(initial=1.0, jitter=0.0, max_wait=8.0)
    exc = RetryableError("x", status=503, retry_after=parse_retry_after(value))
    assert [p.next_delay(n, exc) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -1.0, 0.0, 1e308, True])
def test_a_retry_after_from_elsewhere_is_still_bounded(seconds: float) -> None:
    """A RetryableError built by hand (a plugin, a test) cannot smuggle in an unbounded wait."""
    p = RetryPolicy(initial=1.0, jitter=0.0, max_wait=8.0, max_retry_after=30.0)
    delay = p.next_delay(1, RetryableError("x", retry_after=seconds))
    assert delay in (1.0, 30.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_retry_after": float("inf")},
        {"max_retry_after": float("nan")},
        {"max_wait": -1.0},
        {"initial": float("nan")},
        {"jitter": float("inf")},
        {"max_attempts": 0},
        {"deadline": float("nan")},
        {"deadline": -1},
    ],
)
def test_policy_refuses_unbounded_numbers(changes: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**changes)
