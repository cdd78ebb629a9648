"""The exchange client against a hostile platform on loopback: one test per class of hostile answer.

Each test fails on the client before issue 13's fixes: a trickling server held a call for as long as
it liked, a gzip bomb was inflated whole, a 302 or a non-JSON 200 came out as success or as a bare
``JSONDecodeError``/``KeyError``, and a ``Retry-After: nan`` reached the outbox as a NaN.
"""

from __future__ import annotations

import gzip
import math
import socket
import sqlite3
import time
import zlib
from pathlib import Path

import httpx
import pytest

from govconnect import (
    DeliveryWorker,
    ExchangeClient,
    ExchangeError,
    Outbox,
    RetryableError,
    RetryPolicy,
    UnexpectedResponseError,
)
from govconnect.exchange.bounded import install_deadline
from tests.hostile_support import RawServer, response

NODE = "11010000000/household"
CODE = "111112001/2001"


def client_for(url: str, **kwargs: object) -> ExchangeClient:
    args: dict[str, object] = {"token": "t", "node": NODE, "user_id": "u", "retry": None}
    return ExchangeClient(url, **{**args, **kwargs})  # type: ignore[arg-type]


def ok_json(body: bytes, **headers: str) -> bytes:
    return response(200, body, {"Content-Type": "application/json", **headers})


PUBLISHED = b'{"resource_code":"111112001/2001","accepted":1,"duplicate":false,"batch_id":"b1"}'


# --- a total deadline per request ----------------------------------------------------------------


def trickle(head: bytes, body: bytes, every: float) -> RawServer:
    """Send ``head`` (itself byte by byte when ``body`` is empty) then ``body`` one byte at a time."""

    def answer(conn: socket.socket, request: bytes) -> None:
        data = head + body
        for i in range(len(data)):
            if server.stopping():
                return
            conn.sendall(data[i : i + 1])
            time.sleep(every)

    server = RawServer(answer)
    return server


@pytest.mark.parametrize("where", ["body", "headers"])
def test_a_trickling_server_cannot_hold_a_call_past_the_deadline(where: str) -> None:
    """Every byte comes well within the 2 s read timeout; before, the call took as long as the
    server liked (here ~20 s of trickle), since httpx's timeouts are per read."""
    body = b" " * 400 + PUBLISHED
    head = response(200, body, {"Content-Type": "application/json"})[: -len(body)]
    server = trickle(head, body, 0.05) if where == "body" else trickle(head + body, b"", 0.05)
    with server, client_for(server.url, timeout=2.0, request_deadline=0.6) as client:
        started = time.monotonic()
        with pytest.raises(RetryableError, match=r"deadline|Timeout"):
            client.publish(CODE, [{"id": 1}], idempotency_key="k")
        assert time.monotonic() - started < 1.5


def test_the_deadline_is_installed_on_the_clients_own_pools() -> None:
    """The deadline rests on httpcore internals: this fails loudly if an upgrade moves them."""
    with httpx.Client() as http:
        assert install_deadline(http) >= 1
        assert install_deadline(http) == 0  # never wrapped twice


def test_a_slow_but_honest_answer_within_the_deadline_is_fine() -> None:
    body = b" " * 20 + PUBLISHED
    head = response(200, body, {"Content-Type": "application/json"})[: -len(body)]
    with trickle(head, body, 0.002) as server, client_for(server.url) as client:
        assert client.publish(CODE, [{"id": 1}], idempotency_key="k").accepted == 1


# --- bounded bodies ---------------------------------------------------------------------------


def test_a_gzip_bomb_fails_cleanly_counting_the_decoded_size() -> None:
    """64 MiB of zeros in ~64 KiB of gzip; before, httpx inflated it whole (and an unbounded
    bomb would take the process down)."""
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    answer = ok_json(bomb, **{"Content-Encoding": "gzip"})
    with (
        RawServer(answer) as server,
        client_for(server.url, max_response_bytes=1 << 20) as client,
        pytest.raises(UnexpectedResponseError, match="max_response_bytes") as caught,
    ):
        client.publish(CODE, [{"id": 1}], idempotency_key="k")
    assert caught.value.reason == "too_large"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "deflate-raw"])
def test_compressed_answers_within_the_limit_decode(encoding: str) -> None:
    if encoding == "gzip":
        data = gzip.compress(PUBLISHED)
    elif encoding == "deflate":
        data = zlib.compress(PUBLISHED)
    else:  # raw deflate, as some servers send it
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        data = packer.compress(PUBLISHED) + packer.flush()
    header = "deflate" if encoding.startswith("deflate") else encoding
    answer = ok_json(data, **{"Content-Encoding": header})
    with RawServer(answer) as server, client_for(server.url) as client:
        assert client.publish(CODE, [{"id": 1}], idempotency_key="k").batch_id == "b1"


def test_an_oversized_plain_body_is_refused_by_its_declared_length() -> None:
    answer = response(200, b"", {"Content-Length": str(10**12)}, length=False)
    with (
        RawServer(answer) as server,
        client_for(server.url, max_response_bytes=1000) as client,
        pytest.raises(UnexpectedResponseError, match=r"1000000000000 bytes declared"),
    ):
        client.pull_cases()


def test_an_oversized_body_without_a_length_is_cut_at_the_limit() -> None:
    answer = response(200, b"[" + b"1," * 100_000, length=False)
    with (
        RawServer(answer) as server,
        client_for(server.url, max_response_bytes=1000) as client,
        pytest.raises(UnexpectedResponseError) as caught,
    ):
        client.list_resources()
    assert caught.value.reason == "too_large"


@pytest.mark.parametrize("encoding", ["br", "gzip, gzip", "compress"])
def test_an_encoding_the_client_did_not_ask_for_is_refused(encoding: str) -> None:
    answer = ok_json(b"whatever", **{"Content-Encoding": encoding})
    with (
        RawServer(answer) as server,
        client_for(server.url) as client,
        pytest.raises(UnexpectedResponseError) as caught,
    ):
        client.pull_cases()
    assert caught.value.reason == "encoding"
    assert server.requests[0].lower().count(b"accept-encoding: gzip, deflate\r\n") == 1


def test_a_corrupt_gzip_body_is_an_exchange_error() -> None:
    answer = ok_json(b"\x1f\x8b\x08\x00garbage", **{"Content-Encoding": "gzip"})
    with (
        RawServer(answer) as server,
        client_for(server.url) as client,
        pytest.raises(UnexpectedResponseError, match="does not decode"),
    ):
        client.pull_cases()


def test_a_huge_error_body_still_gives_the_status_error() -> None:
    answer = response(503, b"x" * 200_000, {"Retry-After": "5"})
    with (
        RawServer(answer) as server,
        client_for(server.url, max_response_bytes=1000) as client,
        pytest.raises(RetryableError) as caught,
    ):
        client.pull_cases()
    assert (caught.value.status, caught.value.retry_after) == (503, 5.0)


# --- a 3xx is not success; a 2xx must be the documented JSON -----------------------------------


def test_a_redirect_is_not_followed_nor_success_nor_retried() -> None:
    answer = response(302, b"", {"Location": "http://elsewhere.example/login"})
    policy = RetryPolicy(max_attempts=5, sleep=lambda s: None)
    with (
        RawServer(answer) as server,
        client_for(server.url, retry=policy) as client,
        pytest.raises(UnexpectedResponseError, match=r"elsewhere\.example") as caught,
    ):
        client.ack_case("C-1")
    assert (caught.value.reason, caught.value.status) == ("redirect", 302)
    assert len(server.requests) == 1


CALLS = {
    "publish": lambda c: c.publish(CODE, [{"id": 1}], idempotency_key="k"),
    "pull_cases": lambda c: c.pull_cases(),
    "list_resources": lambda c: c.list_resources(),
    "get_resource": lambda c: c.get_resource(CODE),
    "put_resource": lambda c: c.put_resource({"code": CODE, "version": 1}),
    "ack_case": lambda c: c.ack_case("C-1"),
    "post_status": lambda c: c.post_status("C-1", "accepted"),
}


@pytest.mark.parametrize("call", sorted(CALLS))
@pytest.mark.parametrize(
    "body",
    [b"<html>maintenance</html>", b"", b'"a string"', b"[1, 2]", b"null", b"\xff\xfe"],
)
def test_a_non_json_or_non_object_2xx_is_an_exchange_error(call: str, body: bytes) -> None:
    with (
        RawServer(ok_json(body)) as server,
        client_for(server.url) as client,
        pytest.raises(UnexpectedResponseError) as caught,
    ):
        CALLS[call](client)
    assert caught.value.reason in ("not_json", "shape")


@pytest.mark.parametrize(
    ("call", "body"),
    [
        (
            "publish",
            b'{"resource_code": "x", "accepted": "1", "duplicate": false, "batch_id": "b"}',
        ),
        (
            "publish",
            b'{"resource_code": "x", "accepted": true, "duplicate": false, "batch_id": "b"}',
        ),
        ("publish", b'{"accepted": 1}'),
        ("pull_cases", b'{"cases": {"case_id": "C-1"}}'),
        ("list_resources", b'{"resources": [{"name": "no code"}]}'),
        ("list_resources", b"{}"),
    ],
)
def test_a_wrongly_shaped_2xx_names_what_is_wrong(call: str, body: bytes) -> None:
    with (
        RawServer(ok_json(body)) as server,
        client_for(server.url) as client,
        pytest.raises(
            UnexpectedResponseError, match=f"{'POST' if call == 'publish' else 'GET'} /v1/"
        ) as caught,
    ):
        CALLS[call](client)
    assert caught.value.reason == "shape"


def test_pulled_elements_that_break_the_contract_come_back_for_the_bridge_to_judge() -> None:
    """One bad element must not hide the cases behind it (the bridge counts it as malformed)."""
    body = b'{"cases": [1, {"case_id": 7}, {"case_id": "\\ud800"}, {"case_id": "C-1"}]}'
    with RawServer(ok_json(body)) as server, client_for(server.url) as client:
        assert client.pull_cases() == [1, {"case_id": 7}, {"case_id": "\ud800"}, {"case_id": "C-1"}]


# --- Retry-After ----------------------------------------------------------------------------


HOSTILE_RETRY_AFTER = [
    "nan",
    "inf",
    "-inf",
    "-30",
    "0",
    "1e400",
    "99999999999999",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "soon",
]


@pytest.mark.parametrize("value", HOSTILE_RETRY_AFTER)
def test_a_hostile_retry_after_gives_a_finite_bounded_wait(value: str) -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, deadline=1e9, max_retry_after=30.0, sleep=sleeps.append)
    answer = response(503, b"{}", {"Retry-After": value})
    with (
        RawServer(answer) as server,
        client_for(server.url, retry=policy) as client,
        pytest.raises(RetryableError) as caught,
    ):
        client.pull_cases()
    assert len(server.requests) == 3 and len(sleeps) == 2
    assert all(math.isfinite(s) and 0 < s <= 30.0 for s in sleeps), sleeps
    after = caught.value.retry_after
    assert after is None or (math.isfinite(after) and after > 0)


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "Thu, 01 Jan 1970 00:00:00 GMT", "1e400"])
def test_the_delivery_worker_stores_a_finite_next_attempt(tmp_path: Path, value: str) -> None:
    """Before: a ``Retry-After: nan`` became a NaN delay and the worker's reschedule wrote it to
    the outbox (SQLite stores NaN as NULL); ``inf`` and past dates gave 0 or an endless wait."""
    answer = response(503, b"{}", {"Retry-After": value})
    policy = RetryPolicy(max_attempts=50, deadline=3600, initial=2.0, max_wait=60.0, jitter=0.0)
    with (
        RawServer(answer) as server,
        client_for(server.url) as client,
        Outbox(tmp_path / "outbox.sqlite") as outbox,
    ):
        outbox.enqueue(CODE, [{"id": 1}])
        before = time.time()
        assert DeliveryWorker(outbox, client, policy=policy).run_once() == 1
    with sqlite3.connect(tmp_path / "outbox.sqlite") as db:
        (next_at,) = db.execute("SELECT next_attempt_at FROM outbox_batches").fetchone()
    assert next_at is not None and math.isfinite(next_at)
    assert before + 1.0 <= next_at <= time.time() + 61.0  # the policy's backoff, not 0, not NaN


def test_every_hostile_answer_is_one_of_the_exchange_tree() -> None:
    """The classes above, in one sweep: nothing but an ExchangeError (or success) comes out."""
    answers = [
        response(302, b""),
        ok_json(b"not json"),
        ok_json(b'{"cases": null}'),
        response(204, b""),
        response(503, b"<html>", {"Retry-After": "nan"}),
        response(418, b"\x00" * 10),
    ]
    for answer in answers:
        with (
            RawServer(answer) as server,
            client_for(server.url) as client,
            pytest.raises(ExchangeError),
        ):
            client.pull_cases()


@pytest.mark.parametrize(
    ("answer", "retried"),
    [
        (response(302, b"", {"Location": "https://login.example/"}), False),
        (ok_json(b"<html>maintenance</html>"), False),
        (ok_json(b'{"accepted": "all"}'), False),
        (response(503, b"{}", {"Retry-After": "nan"}), True),
    ],
)
def test_the_delivery_worker_dead_letters_contract_breaches_and_retries_the_transient(
    tmp_path: Path, answer: bytes, retried: bool
) -> None:
    """A broken answer is dead-lettered at once with the reason (its key kept for a replay);
    only transient failures wait for another attempt."""
    with (
        RawServer(answer) as server,
        client_for(server.url) as client,
        Outbox(tmp_path / "outbox.sqlite") as outbox,
    ):
        outbox.enqueue(CODE, [{"id": 1}])
        DeliveryWorker(outbox, client).run_once()
        dead = outbox.dead_letters()
        assert (len(dead) == 0) is retried
        if not retried:
            assert "POST /v1/exchange/records" in dead[0].reason
            assert dead[0].reason.startswith("failed after 1 attempt(s)")
