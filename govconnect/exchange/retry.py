"""Retry policy as data, built from tenacity pieces.

One :class:`RetryPolicy` describes how govconnect retries an exchange: exponential backoff with jitter,
the platform's ``Retry-After`` honoured, a deadline, and *only* errors that can succeed later
(connect errors, timeouts, dropped connections, 429, 5xx — every :class:`RetryableError`). A 4xx
(:class:`PlatformRejectedError`) is never retried.

The same policy serves two callers: :class:`ExchangeClient` retries a call in-process through
:meth:`RetryPolicy.retrying` (a ``tenacity.Retrying``), and the delivery worker asks
:meth:`RetryPolicy.next_delay` when to try an outbox entry again, so the wait survives a restart.
Sleep and clock are injectable so tests never really wait.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import tenacity
from tenacity import RetryCallState

from .._exceptions import ConfigurationError, RetryableError

__all__ = [
    "RetryPolicy",
    "is_retryable",
    "parse_retry_after",
    "stop_at_deadline",
    "wait_retry_after",
]

log = logging.getLogger(__name__)


def is_retryable(exc: BaseException) -> bool:
    """True for errors that can succeed later; the client maps every such failure to RetryableError."""
    return isinstance(exc, RetryableError)


_DELTA_SECONDS = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")
"""``Retry-After`` as delta-seconds: ASCII digits (RFC 9110), decimals tolerated. ``float()`` alone
would also take ``nan``, ``inf``, ``-5``, ``1e400`` and digits of other scripts."""

_MAX_HEADER = 64
"""Longer values are not a number of seconds nor an HTTP-date; they are not even parsed."""


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds, a decimal, or an HTTP-date).

    Only a wait the caller can act on comes back: a finite number of seconds greater than 0.
    Everything else is treated as absent (``None``), so the policy's own backoff applies: ``nan``,
    ``inf``, a negative or zero value, an HTTP-date now or in the past (it would mean "at once",
    and a platform answering that every time would make the client spin), garbage. A huge value
    comes back as it is; :class:`RetryPolicy` caps every wait at ``max_retry_after``.
    """
    if value is None or len(value) > _MAX_HEADER:
        return None
    value = value.strip()
    if _DELTA_SECONDS.fullmatch(value):
        seconds = float(value)
        return seconds if seconds > 0 else None
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000" is UTC with no zone information (RFC 5322)
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return seconds if 0 < seconds < math.inf else None


class wait_retry_after(tenacity.wait.wait_base):
    """Wait what the platform asked for (``Retry-After``, capped), else fall back to ``fallback``.

    A ``retry_after`` that is not a finite number above 0 (a ``RetryableError`` built elsewhere
    than :func:`parse_retry_after`) counts as absent, so the wait is always finite and at most
    ``max(cap, fallback)``: the delivery worker stores it as the batch's next attempt time.
    """

    def __init__(self, fallback: tenacity.wait.wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        if isinstance(exc, RetryableError) and _usable(exc.retry_after):
            return min(float(exc.retry_after), self.cap)  # type: ignore[arg-type]
        return float(self.fallback(retry_state))


def _usable(seconds: object) -> bool:
    """A wait worth honouring: a real number of seconds, finite and above 0."""
    return (
        isinstance(seconds, int | float)
        and not isinstance(seconds, bool)
        and 0 < seconds < math.inf
    )


class stop_at_deadline(tenacity.stop.stop_base):
    """Stop when the next attempt would start after ``deadline`` (an absolute ``clock()`` time).

    Unlike ``stop_after_delay`` it looks ahead at the upcoming sleep and takes an injectable clock,
    so a deadline test needs no real time.
    """

    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + (retry_state.upcoming_sleep or 0.0) > self.deadline


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How to retry: every field is plain data, every tenacity piece is built from it.

    ``deadline`` bounds the total time spent on one exchange (seconds from its first attempt, or
    from its enqueueing for the outbox); ``max_attempts`` bounds the tries; the backoff grows as
    ``initial * 2**n`` up to ``max_wait`` plus up to ``jitter`` seconds; a ``Retry-After`` is obeyed
    up to ``max_retry_after``, the documented maximum of any wait a platform can ask for.

    Every number must be finite and not negative (``deadline`` may be ``math.inf``), so no wait
    computed from the policy can be ``nan`` or infinite.
    """

    max_attempts: int = 6
    deadline: float = 60.0
    initial: float = 0.2
    max_wait: float = 10.0
    jitter: float = 0.2
    max_retry_after: float = 120.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def __post_init__(self) -> None:
        if not (isinstance(self.max_attempts, int) and self.max_attempts >= 1):
            raise ConfigurationError(f"max_attempts is an integer >= 1, not {self.max_attempts!r}")
        for name in ("initial", "max_wait", "jitter", "max_retry_after"):
            value = getattr(self, name)
            if not 0 <= value < math.inf:
                raise ConfigurationError(
                    f"{name} is a finite number of seconds >= 0, not {value!r}"
                )
        if not self.deadline >= 0:  # 0: one attempt only; math.inf: no deadline
            raise ConfigurationError(f"deadline is seconds >= 0, not {self.deadline!r}")

    def with_(self, **changes: Any) -> RetryPolicy:
        return replace(self, **changes)

    # --- tenacity pieces --------------------------------------------------------------------------

    def wait(self) -> tenacity.wait.wait_base:
        backoff = tenacity.wait_exponential(
            multiplier=self.initial, max=self.max_wait
        ) + tenacity.wait_random(0, self.jitter)
        return wait_retry_after(backoff, self.max_retry_after)

    def retry(self) -> tenacity.retry.retry_base:
        return tenacity.retry_if_exception(is_retryable)

    def stop(self, started: float | None = None) -> tenacity.stop.stop_base:
        start = self.clock() if started is None else started
        return tenacity.stop_after_attempt(self.max_attempts) | stop_at_deadline(
            start + self.deadline, self.clock
        )

    def retrying(self, *, describe: str = "exchange") -> tenacity.Retrying:
        """A fresh ``tenacity.Retrying`` for one call; re-raises the last error when it gives up."""

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            log.info(
                "%s failed (attempt %d), retrying in %.2fs: %s",
                describe,
                state.attempt_number,
                state.upcoming_sleep,
                exc,
                extra={"attempt": state.attempt_number, "wait": state.upcoming_sleep},
            )

        return tenacity.Retrying(
            stop=self.stop(),
            wait=self.wait(),
            retry=self.retry(),
            sleep=self.sleep,
            reraise=True,
            before_sleep=before_sleep,
        )

    # --- durable retries (the delivery worker) ------------------------------------------------

    def next_delay(self, attempt: int, exc: BaseException) -> float:
        """Seconds before attempt ``attempt + 1`` after ``exc`` failed attempt ``attempt``."""
        state = RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        state.set_exception((type(exc), exc, exc.__traceback__))
        return float(self.wait()(state))

    def gives_up(self, attempt: int, exc: BaseException, *, elapsed: float, delay: float) -> bool:
        """Whether a durable exchange should go to dead letters instead of being tried again."""
        return (
            not is_retryable(exc) or attempt >= self.max_attempts or elapsed + delay > self.deadline
        )


DEFAULT_POLICY = RetryPolicy()
