"""ExchangeClient against httpx.MockTransport: headers, error translation, retries, catalog helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel

from govconnect import (
    ConfigurationError,
    ExchangeClient,
    ExchangeError,
    InvalidInputError,
    PlatformRejectedError,
    Problem,
    RetryableError,
    RetryPolicy,
)
from govconnect.exchange import platform as P

TOKEN = "s3cret-token-value"
NODE = "11010000000/household"


class Recorder:
    """A MockTransport handler answering from a script, recording every request."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], Any]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def make_client(recorder: Recorder, sleeps: list[float] | None = None, **kw: Any) -> ExchangeClient:
    sleeps = sleeps if sleeps is not None else []
    retry = kw.pop("retry", RetryPolicy(max_attempts=4, sleep=sleeps.append))
    return ExchangeClient(
        "http://platform.test",
        token=TOKEN,
        node=NODE,
        user_id="officer-1",
        transport=httpx.MockTransport(recorder),
        retry=retry,
        **kw,
    )


def ok(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body)


def error(status: int, problems: list[dict[str, str]] = (), **headers: str) -> httpx.Response:
    body = {"error": "invalid", "message": "refused", "problems": list(problems)}
    return httpx.Response(status, json=body, headers=headers)


PUBLISHED = {"resource_code": "1/2", "accepted": 1, "duplicate": False, "batch_id": "b1"}


def test_every_request_carries_identity_and_trace_headers() -> None:
    rec = Recorder(ok(PUBLISHED))
    client = make_client(rec)
    client.publish("1/2", [{"id": 1}], idempotency_key="k-1", case_id="CASE-9", user_id="officer-2")
    request = rec.requests[0]
    assert request.headers[P.HEADER_AUTHORIZATION] == f"Bearer {TOKEN}"
    assert request.headers[P.HEADER_NODE] == NODE
    assert request.headers[P.HEADER_USER_ID] == "officer-2"
    assert request.headers[P.HEADER_CASE_ID] == "CASE-9"
    assert request.headers[P.HEADER_IDEMPOTENCY_KEY] == "k-1"
    assert len(request.headers[P.HEADER_MESSAGE_ID]) == 32
    assert request.url.path == P.PATH_RECORDS
    assert orjson.loads(request.content) == {"resource_code": "1/2", "records": [{"id": 1}]}
    rec2 = Recorder(ok({"cases": []}))
    make_client(rec2).pull_cases()
    assert rec2.requests[0].headers[P.HEADER_USER_ID] == "officer-1"
    assert P.HEADER_CASE_ID not in rec2.requests[0].headers


def test_message_and_idempotency_key_are_stable_across_retries() -> None:
    rec = Recorder(error(500), httpx.ConnectError("refused"), ok(PUBLISHED))
    sleeps: list[float] = []
    make_client(rec, sleeps).publish("1/2", [{"id": 1}], idempotency_key="k")
    ids = {r.headers[P.HEADER_MESSAGE_ID] for r in rec.requests}
    keys = {r.headers[P.HEADER_IDEMPOTENCY_KEY] for r in rec.requests}
    assert len(rec.requests) == 3 and len(ids) == 1 and keys == {"k"}
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("peer closed"),
        error(500),
        error(502),
        error(503, **{"Retry-After": "2"}),
        error(429, **{"Retry-After": "1"}),
    ],
    ids=str,
)
def test_transient_failures_are_retried(failure: Any) -> None:
    rec = Recorder(failure, ok({"resources": []}))
    assert make_client(rec).list_resources() == []
    assert len(rec.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_4xx_raises_platform_rejected_with_problems_and_is_not_retried(status: int) -> None:
    problem = {"field": "records[0].op", "rule": "enum", "message": "upsert or delete"}
    rec = Recorder(error(status, [problem]))
    with pytest.raises(PlatformRejectedError) as caught:
        make_client(rec).publish("1/2", [{"op": "x"}], idempotency_key="k")
    assert caught.value.status == status
    assert caught.value.problems == [Problem("records[0].op", "enum", "upsert or delete")]
    assert len(rec.requests) == 1


def test_retry_after_reaches_the_sleep() -> None:
    rec = Recorder(
        error(429, **{"Retry-After": "3"}),
        error(503, **{"Retry-After": "0.5"}),
        ok({"resources": []}),
    )
    sleeps: list[float] = []
    make_client(rec, sleeps).list_resources()
    assert sleeps == [3.0, 0.5]


def test_retryable_error_carries_status_and_retry_after_when_giving_up() -> None:
    rec = Recorder(error(503, **{"Retry-After": "1"}))
    with pytest.raises(RetryableError) as caught:
        make_client(rec, retry=RetryPolicy(max_attempts=2, sleep=lambda s: None)).list_resources()
    assert caught.value.status == 503 and caught.value.retry_after == 1.0
    assert len(rec.requests) == 2


def test_retry_none_is_a_single_attempt() -> None:
    rec = Recorder(error(500))
    with pytest.raises(RetryableError):
        make_client(rec, retry=None).list_resources()
    assert len(rec.requests) == 1


def test_transport_errors_are_translated_with_cause() -> None:
    rec = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(RetryableError) as caught:
        make_client(rec, retry=None).list_resources()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    rec = Recorder(httpx.UnsupportedProtocol("ftp"))
    with pytest.raises(ExchangeError) as caught2:
        make_client(rec).list_resources()
    assert not isinstance(caught2.value, RetryableError)
    assert len(rec.requests) == 1


def test_error_body_that_is_not_ours() -> None:
    rec = Recorder(httpx.Response(418, text="<html>teapot</html>"))
    with pytest.raises(PlatformRejectedError, match="teapot"):
        make_client(rec).list_resources()
    rec = Recorder(httpx.Response(400, json=["odd"]))
    with pytest.raises(PlatformRejectedError) as caught:
        make_client(rec).list_resources()
    assert caught.value.problems == []


def test_get_resource_404_is_none_but_other_errors_raise() -> None:
    assert make_client(Recorder(error(404))).get_resource("1/2") is None
    with pytest.raises(PlatformRejectedError):
        make_client(Recorder(error(401))).get_resource("1/2")
    rec = Recorder(ok({"code": "1/2", "version": 3}))
    assert make_client(rec).get_resource("111112001/2001", version=3)["version"] == 3
    assert rec.requests[0].url.raw_path == b"/v1/catalog/resources/111112001%2F2001?version=3"


class ResourceModel(BaseModel):
    code: str
    version: int = 1
    name: str = "人口"


def test_put_resource_accepts_mappings_and_pydantic_models() -> None:
    rec = Recorder(lambda r: ok({"status": "created", "resource": orjson.loads(r.content)}, 201))
    client = make_client(rec)
    assert client.put_resource(ResourceModel(code="1/2"))["resource"]["name"] == "人口"
    assert client.put_resource({"code": "1/3", "version": 2})["status"] == "created"
    assert rec.requests[0].method == "PUT"
    assert rec.requests[0].url.raw_path == b"/v1/catalog/resources/1%2F2"
    with pytest.raises(InvalidInputError):
        client.put_resource({"code": "no-slash", "version": 1})
    with pytest.raises(TypeError):
        client.put_resource(42)


def test_diff_and_sync_catalog() -> None:
    remote = [
        {"code": "1/1", "version": 1},
        {"code": "1/2", "version": 1},
        {"code": "9/9", "version": 1},
    ]
    puts: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return ok({"resources": remote})
        puts.append(orjson.loads(request.content))
        return ok({"status": "created", "resource": puts[-1]}, 201)

    client = make_client(Recorder(handler))
    local = [
        {"code": "1/1", "version": 1},
        {"code": "1/2", "version": 2},
        {"code": "1/3", "version": 1},
    ]
    diff = client.diff_catalog(local)
    assert [r["code"] for r in diff.new] == ["1/3"]
    assert [r["code"] for r in diff.changed] == ["1/2"]
    assert [r["code"] for r in diff.unchanged] == ["1/1"]
    assert diff.only_on_platform == ["9/9"]
    assert not diff.in_sync
    client.sync_catalog(local)
    assert [p["code"] for p in puts] == ["1/3", "1/2"]


def test_intake_calls() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == P.PATH_CASES:
            assert request.url.params["limit"] == "5"
            return ok({"cases": [{"case_id": "C/1", "matter_code": "m"}]})
        if path.endswith("/ack"):
            return ok({"case_id": "C/1", "acknowledged": True})
        body = orjson.loads(request.content)
        return ok({"case_id": "C/1", "status": body["status"], "duplicate": False})

    rec = Recorder(handler)
    client = make_client(rec)
    assert client.pull_cases(limit=5)[0]["case_id"] == "C/1"
    client.ack_case("C/1")
    answer = client.post_status("C/1", "completed", result={"licence": "L-1"}, idempotency_key="s")
    assert answer["status"] == "completed"
    ack, status = rec.requests[1], rec.requests[2]
    assert ack.url.raw_path == b"/v1/intake/cases/C%2F1/ack"
    assert ack.headers[P.HEADER_CASE_ID] == "C%2F1"  # percent-encoded UTF-8, as documented
    assert orjson.loads(status.content) == {"status": "completed", "result": {"licence": "L-1"}}
    client.post_status("C/1", "returned", reasons=["材料不全"])
    assert orjson.loads(rec.requests[3].content) == {"status": "returned", "reasons": ["材料不全"]}


def test_bad_input_is_refused_at_the_edge() -> None:
    rec = Recorder(ok({}))
    client = make_client(rec)
    with pytest.raises(InvalidInputError) as caught:
        client.post_status("C1", "done")
    assert caught.value.problems[0].field == "status"
    with pytest.raises(InvalidInputError) as caught:
        client.post_status("C1", "returned")
    assert caught.value.problems[0].field == "reasons"
    with pytest.raises(InvalidInputError):
        client.publish("1/2", [], idempotency_key="k")
    with pytest.raises(InvalidInputError):
        client.publish_joined("1/2", b"", idempotency_key="k")
    assert rec.requests == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"node": "no-slash"}, "node"), ({"token": ""}, "token"), ({"user_id": ""}, "user id")],
)
def test_configuration_errors(kwargs: dict[str, str], match: str) -> None:
    args = {"token": TOKEN, "node": NODE, "user_id": "u", **kwargs}
    with pytest.raises(ConfigurationError, match=match):
        ExchangeClient("http://x", **args)


def test_token_never_appears_in_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rec = Recorder(
        error(503, **{"Retry-After": "0"}), httpx.ConnectError("x"), ok({"resources": []})
    )
    with make_client(rec) as client:
        client.list_resources()
        assert TOKEN not in repr(client)
    assert caplog.records
    assert all(TOKEN not in r.getMessage() and TOKEN not in str(r.__dict__) for r in caplog.records)
