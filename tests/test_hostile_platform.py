"""Fuzzing the platform's answers through the real exchange client (hypothesis, bounded examples).

A raw-socket server on loopback answers each call with a generated status, headers (``Retry-After``,
``Content-Encoding``, ``Content-Length`` true, false or absent) and body (the documented JSON, other
JSON, bytes, compressed or not). Whatever comes back, the client either succeeds or raises an
:class:`ExchangeError`, and every wait the retry policy asks for is finite and within the policy's
documented bound. The same properties for ``parse_retry_after`` and the durable ``next_delay`` run
on many more values, as they need no network.

Examples are bounded so the file stays under ~20 s (``GOVCONNECT_FUZZ_EXAMPLES`` raises the network
fuzz's 300 for a soak); ``--hypothesis-show-statistics`` prints the counts.
"""

from __future__ import annotations

import gzip
import math
import os
import socket
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govconnect import ExchangeClient, ExchangeError, RetryableError, RetryPolicy
from govconnect.exchange.retry import parse_retry_after
from tests.hostile_support import RawServer, response

CODE = "111112001/2001"
EXAMPLES = int(os.environ.get("GOVCONNECT_FUZZ_EXAMPLES", "300"))
"""Network examples per run; raise it for a long local soak (CI keeps the default)."""
MAX_RETRY_AFTER = 5.0
POLICY_BOUND = MAX_RETRY_AFTER  # max_wait (0.5) + jitter (0.1) stays below it

CALLS: dict[str, tuple[Callable[[ExchangeClient], Any], bytes]] = {
    "publish": (
        lambda c: c.publish(CODE, [{"id": 1}], idempotency_key="k"),
        b'{"resource_code":"111112001/2001","accepted":1,"duplicate":false,"batch_id":"b1"}',
    ),
    "pull_cases": (lambda c: c.pull_cases(), b'{"cases":[{"case_id":"C-1"}]}'),
    "list_resources": (lambda c: c.list_resources(), b'{"resources":[{"code":"1/1"}]}'),
    "get_resource": (lambda c: c.get_resource(CODE), b'{"code":"1/1"}'),
    "ack_case": (lambda c: c.ack_case("C-1"), b'{"case_id":"C-1","acknowledged":true}'),
    "post_status": (
        lambda c: c.post_status("C-1", "accepted"),
        b'{"case_id":"C-1","status":"accepted","duplicate":false}',
    ),
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=6,
)

hostile_seconds = st.one_of(
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "-1", "0", "0.0", "1e400", "1e3"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
    ).map(lambda d: format_datetime(d, usegmt=True)),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)

statuses = st.one_of(
    st.sampled_from([200, 201, 204, 301, 302, 307, 308, 400, 404, 409, 422, 429, 500, 503]),
    st.integers(min_value=200, max_value=599),
)


@st.composite
def answers(draw: st.DrawFn, documented: bytes) -> bytes:
    """One whole HTTP response, anywhere between the documented answer and garbage."""
    status = draw(statuses)
    kind = draw(st.sampled_from(["documented", "json", "bytes", "empty"]))
    body = {
        "documented": documented,
        "json": orjson.dumps(draw(json_values)),
        "bytes": draw(st.binary(max_size=200)),
        "empty": b"",
    }[kind]
    headers: dict[str, str] = {
        "Content-Type": draw(st.sampled_from(["application/json", "text/html"]))
    }
    if draw(st.booleans()):
        headers["Retry-After"] = draw(hostile_seconds)
    encoding = draw(st.sampled_from(["", "gzip", "deflate", "identity", "br", "gzip, gzip", "x"]))
    if encoding:
        headers["Content-Encoding"] = encoding
        if draw(st.booleans()):  # honest: the body is encoded as declared (else: a lie)
            if encoding == "gzip":
                body = gzip.compress(body)
            elif encoding == "deflate":
                body = zlib.compress(body)
    framing = draw(st.sampled_from(["length", "none", "short", "long"]))
    if status in (301, 302, 307, 308) and draw(st.booleans()):
        headers["Location"] = draw(st.sampled_from(["http://elsewhere.example/", "/v1/x", "::"]))
    if framing == "short":
        headers["Content-Length"] = str(max(0, len(body) - 1))
    elif framing == "long":
        headers["Content-Length"] = str(len(body) + 10)
    return response(status, body, headers, length=framing == "length")


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    with RawServer(b"") as raw:
        yield raw


@pytest.fixture(scope="module")
def client(server: RawServer) -> Iterator[ExchangeClient]:
    """One client for every example (building one costs an SSL context); each sets its policy."""
    with ExchangeClient(
        server.url,
        token="t",
        node="11010000000/household",
        user_id="u",
        timeout=2.0,
        max_response_bytes=4096,
        request_deadline=2.0,
    ) as shared:
        yield shared


TRIED = {"network": 0, "succeeded": 0, "exchange_errors": 0, "sleeps": 0}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), call=st.sampled_from(sorted(CALLS)))
def test_any_platform_answer_is_success_or_an_exchange_error(
    server: RawServer, client: ExchangeClient, data: st.DataObject, call: str
) -> None:
    invoke, documented = CALLS[call]
    first = data.draw(answers(documented), label="first answer")
    second = data.draw(answers(documented), label="second answer")
    script = iter([first, second, second])

    def answer(conn: socket.socket, request: bytes) -> None:
        conn.sendall(next(script, second))

    server.answer = answer
    sleeps: list[float] = []
    policy = RetryPolicy(
        max_attempts=2,
        deadline=1e6,
        initial=0.1,
        max_wait=0.5,
        jitter=0.1,
        max_retry_after=MAX_RETRY_AFTER,
        sleep=sleeps.append,
    )
    client.retry = policy
    TRIED["network"] += 1
    try:
        invoke(client)
        TRIED["succeeded"] += 1
    except ExchangeError as exc:
        TRIED["exchange_errors"] += 1
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            assert math.isfinite(exc.retry_after) and exc.retry_after > 0
    TRIED["sleeps"] += len(sleeps)
    assert all(math.isfinite(s) and 0 <= s <= POLICY_BOUND for s in sleeps), sleeps


@settings(max_examples=2000, deadline=None)
@given(hostile_seconds | st.text(max_size=80))
def test_parse_retry_after_is_absent_or_finite_and_positive(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (math.isfinite(seconds) and seconds > 0)


@settings(max_examples=2000, deadline=None)
@given(
    retry_after=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    attempt=st.integers(min_value=1, max_value=10_000),
    cap=st.floats(min_value=0, max_value=1e6),
)
def test_the_durable_delay_is_always_finite_and_bounded(
    retry_after: float | None, attempt: int, cap: float
) -> None:
    """What the delivery worker stores as a batch's next attempt time."""
    policy = RetryPolicy(initial=0.5, max_wait=300.0, jitter=0.2, max_retry_after=cap)
    delay = policy.next_delay(attempt, RetryableError("x", status=503, retry_after=retry_after))
    assert math.isfinite(delay) and 0 <= delay <= max(cap, 300.2)


def test_the_fuzzing_reached_both_outcomes() -> None:
    """Runs after the fuzz test in this file: it exercised success and failure, and waits."""
    if TRIED["network"] == 0:
        pytest.skip("run with the fuzz test")
    assert TRIED["succeeded"] > 0 and TRIED["exchange_errors"] > 0 and TRIED["sleeps"] > 0
