"""Hostile requests at the gateway, one class each: transport bounds (414/431), bounded audited
text (422), no path unaudited (405, unrouted 404, malformed page tokens, unexpected errors), header
text decoded as the contract says and control characters neutralised before they are stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from govconnect.gateway.app import Gateway
from govconnect.gateway.audit_record import AuditRecord
from govconnect.gateway.bounds import (
    MAX_HEADER_BYTES,
    MAX_PATH_BYTES,
    MAX_QUERY_BYTES,
    clean_text,
    decode_header,
)

from .gateway_support import CITIZEN_ID, asgi_get, path_of, serve_in_thread
from .gateway_support import gateway as gateway  # the fixture

CORE = {"Authorization": "Bearer tok-core-p"}
OPEN = path_of("open_case")


@pytest.fixture
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    """The gateway on uvicorn over loopback: raw header bytes reach it as sent (Starlette's test
    client re-encodes them)."""
    with serve_in_thread(gateway.app) as base, httpx.Client(base_url=base, timeout=10) as http:
        yield http


def records(gateway: Gateway) -> list[AuditRecord]:
    return list(gateway.audit.records())


def assert_json_error(resp: httpx.Response, status: int, error: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body["error"] == error and body["message"]
    assert body["request_hash"] == resp.headers["x-request-hash"]
    return body


# --- no path unaudited ------------------------------------------------------------------------


def nested_token(depth: int) -> str:
    raw = ("[" * depth + "]" * depth).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("token", [nested_token(1200), nested_token(40), "A" * 300])
def test_a_malformed_page_token_is_an_audited_422(
    client: httpx.Client, gateway: Gateway, token: str
) -> None:
    resp = client.get(OPEN, params={"citizen_id": CITIZEN_ID, "page": token}, headers=CORE)
    body = assert_json_error(resp, 422, "invalid_params")
    assert body["problems"][0]["rule"] == "page.invalid"
    (rec,) = records(gateway)
    assert (rec.status, rec.outcome, rec.request_hash) == (
        422,
        "invalid_params",
        body["request_hash"],
    )


def test_405_is_audited_and_json(client: httpx.Client, gateway: Gateway) -> None:
    resp = client.post(OPEN, params={"citizen_id": CITIZEN_ID}, headers=CORE)
    assert_json_error(resp, 405, "method_not_allowed")
    assert resp.headers["allow"] == "GET, HEAD"
    (rec,) = records(gateway)
    assert (rec.status, rec.consumer) == (405, "C4P")
    assert rec.service == "11010500009/JZXT/open_case/v1"


def test_an_unrouted_path_is_audited_and_json(client: httpx.Client, gateway: Gateway) -> None:
    resp = client.get("/admin/../etc/passwd", headers={"X-Handling-Officer": "张三".encode()})
    assert_json_error(resp, 404, "not_found")
    (rec,) = records(gateway)
    assert rec.status == 404 and rec.consumer is None and rec.officer == "张三"


def test_a_trailing_slash_is_not_an_unaudited_redirect(
    client: httpx.Client, gateway: Gateway
) -> None:
    assert_json_error(client.get("/healthz/"), 404, "not_found")
    assert [r.status for r in records(gateway)] == [404]


def test_an_unexpected_error_in_a_call_is_an_audited_json_500(
    client: httpx.Client, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("a bug with personal data 11010519491231002X in its message")

    monkeypatch.setattr(gateway.policy, "view", boom)
    resp = client.get(OPEN, params={"citizen_id": CITIZEN_ID}, headers=CORE)
    assert_json_error(resp, 500, "internal")
    assert CITIZEN_ID not in resp.text
    (rec,) = records(gateway)
    assert (rec.status, rec.outcome) == (500, "internal")


def test_an_error_escaping_the_call_is_an_audited_json_500(
    client: httpx.Client, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("before the call was audited")

    monkeypatch.setattr(gateway, "_handle", boom)
    resp = client.get(OPEN, params={"citizen_id": CITIZEN_ID}, headers=CORE)
    assert_json_error(resp, 500, "internal")
    (rec,) = records(gateway)
    assert (rec.status, rec.consumer) == (500, "C4P")


# --- bounds before anything is stored ---------------------------------------------------------


def test_an_over_long_path_is_414_and_its_record_bounded(
    client: httpx.Client, gateway: Gateway
) -> None:
    resp = client.get("/services/" + "x" * 10_000)
    body = assert_json_error(resp, 414, "uri_too_long")
    assert body["problems"][0]["rule"] == "path.too_long"
    (rec,) = records(gateway)
    assert rec.status == 414 and len(rec.service) <= MAX_PATH_BYTES


def test_an_over_long_query_is_414(client: httpx.Client, gateway: Gateway) -> None:
    resp = client.get(OPEN, params={"citizen_id": "1" * (MAX_QUERY_BYTES + 1)})
    assert_json_error(resp, 414, "uri_too_long")
    assert records(gateway)[0].params_digest == gateway.audit.params_digest({})


def test_over_long_or_too_many_headers_are_431(client: httpx.Client, gateway: Gateway) -> None:
    big = client.get(OPEN, headers={"X-Junk": "j" * (MAX_HEADER_BYTES + 1)})
    assert assert_json_error(big, 431, "headers_too_large")["problems"][0]["field"] == "X-Junk"
    many = client.get(OPEN, headers={f"X-H{i}": "v" for i in range(100)})
    assert assert_json_error(many, 431, "headers_too_large")["problems"][0]["rule"] == (
        "headers.too_many"
    )
    assert [r.status for r in records(gateway)] == [431, 431]


@pytest.mark.parametrize(
    ("headers", "params", "field", "rule"),
    [
        ({"X-Handling-Officer": ("张" * 65).encode()}, {}, "X-Handling-Officer", "header.too_long"),
        ({"X-Case-Id": "c" * 129}, {}, "X-Case-Id", "header.too_long"),
        ({"X-Message-Id": "m" * 129}, {}, "X-Message-Id", "header.too_long"),
        ({"X-Message-Id": "消息-1".encode()}, {}, "X-Message-Id", "header.charset"),
        ({"X-Handling-Officer": b"\xff\xfe"}, {}, "X-Handling-Officer", "header.encoding"),
        ({"X-Handling-Officer": "UTF-8''%FF"}, {}, "X-Handling-Officer", "header.encoding"),
        ({}, {"purpose": "用" * 201}, "purpose", "purpose.too_long"),
    ],
)
@pytest.mark.parametrize("auth", [{}, CORE], ids=["unauthenticated", "authenticated"])
def test_audited_text_over_its_bound_is_a_422_and_not_stored(
    client: httpx.Client,
    gateway: Gateway,
    headers: dict,
    params: dict,
    field: str,
    rule: str,
    auth: dict,
) -> None:
    resp = client.get(
        OPEN, params={"citizen_id": CITIZEN_ID, **params}, headers={**auth, **headers}
    )
    body = assert_json_error(resp, 422, "invalid_params")
    assert body["problems"] == [
        {"field": field, "rule": rule, "message": body["problems"][0]["message"]}
    ]
    (rec,) = records(gateway)
    assert rec.status == 422
    assert rec.officer is None and rec.case_id is None and rec.purpose is None
    assert len(rec.message_id or "") == 32  # the caller's was refused: one was made up


# --- header text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent", ["张三".encode(), b"UTF-8''%E5%BC%A0%E4%B8%89", b"utf-8'zh'%E5%BC%A0%E4%B8%89"]
)
def test_a_handling_officer_arrives_as_sent(
    client: httpx.Client, gateway: Gateway, sent: bytes
) -> None:
    resp = client.get(
        OPEN,
        params={"citizen_id": CITIZEN_ID},
        headers={**CORE, "X-Handling-Officer": sent, "X-Case-Id": "办件-0001".encode()},
    )
    assert resp.status_code == 200
    (rec,) = records(gateway)
    assert (rec.officer, rec.case_id) == ("张三", "办件-0001")


def test_control_characters_never_reach_the_audit_log(gateway: Gateway) -> None:
    # straight into the app: an HTTP client refuses to send these bytes, a server may pass them
    nasty = "\x1b[2J\x1b]0;pwned\x07\u202eevil\r\nforged line"
    status, _, _ = asgi_get(
        gateway.app,
        OPEN,
        urlencode({"citizen_id": CITIZEN_ID, "purpose": nasty}).encode(),
        [
            (b"authorization", b"Bearer tok-core-p"),
            (b"x-handling-officer", nasty.encode()),
            (b"x-case-id", nasty.encode()),
        ],
    )
    assert status == 200
    (rec,) = records(gateway)
    for text in (rec.officer, rec.case_id, rec.purpose):
        assert text is not None and "\ufffd" in text
        assert not any(c in text for c in "\x1b\x07\r\n\u202e")
    assert "forged line" in rec.officer  # neutralised, not lost


def test_clean_text_and_decode_header() -> None:
    assert clean_text("a\x00b\x9bc\u2028d", 3) == "a\ufffdb"
    assert clean_text("张三") == "张三"
    assert decode_header(b"UTF-8''%E5%BC%A0") == "张"
    assert decode_header("张".encode()) == "张"
    with pytest.raises(ValueError):
        decode_header(b"\xe5\xbc")


# --- over real HTTP ---------------------------------------------------------------------------


def test_hostile_requests_over_real_http(gateway: Gateway) -> None:
    with serve_in_thread(gateway.app) as base, httpx.Client(base_url=base, timeout=10) as http:
        officer = http.get(
            OPEN,
            params={"citizen_id": CITIZEN_ID},
            headers={**CORE, "X-Handling-Officer": "张三".encode()},
        )
        assert officer.status_code == 200
        page = http.get(
            OPEN, params={"citizen_id": CITIZEN_ID, "page": nested_token(1200)}, headers=CORE
        )
        assert_json_error(page, 422, "invalid_params")
        assert_json_error(http.delete(OPEN, headers=CORE), 405, "method_not_allowed")
        assert_json_error(http.get("/nothing-here"), 404, "not_found")
        assert_json_error(http.get("/services/" + "y" * 2000), 414, "uri_too_long")
    recs = records(gateway)
    assert [r.status for r in recs] == [200, 422, 405, 404, 414]
    assert recs[0].officer == "张三"
    assert json.loads(json.dumps(recs[1].as_dict()))["outcome"] == "invalid_params"


def test_when_even_the_refusal_fails_the_answer_is_still_json(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: object) -> None:
        raise RuntimeError("no audit, no digest")

    monkeypatch.setattr(gateway, "_handle", boom)
    monkeypatch.setattr(gateway.audit, "params_digest", boom)
    status, reply, body = asgi_get(gateway.app, OPEN, b"citizen_id=1")
    assert status == 503 and reply[b"content-type"] == b"application/json"
    assert json.loads(body)["error"] == "audit_unavailable"
