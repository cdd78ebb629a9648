"""The gateway's HTTP surface: error bodies, paging, request hashes, audit of every call, operations
endpoints, failure paths — and one end-to-end run over real HTTP with the household connector."""

from __future__ import annotations

import json
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from govconnect import load_registry
from govconnect.gateway.app import Gateway
from govconnect.gateway.audit import AuditLog
from govconnect.gateway.policy import digest, load_gateway_config
from govconnect.gateway.request import canonical_request, request_hash

from .gateway_support import CITIZEN_ID, PURPOSE, make_gateway, path_of, serve_in_thread

CORE = {"Authorization": "Bearer tok-core-p"}
SENSITIVE = {"Authorization": "Bearer tok-sensitive-m"}


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    gw = make_gateway(tmp_path)
    yield gw
    gw.close()


@pytest.fixture
def client(gateway: Gateway) -> TestClient:
    return TestClient(gateway.app)


def last_audit(gateway: Gateway):
    return list(gateway.audit.records())[-1]


# --- refusals ---------------------------------------------------------------------------------


def test_401_without_credentials(client: TestClient, gateway: Gateway) -> None:
    resp = client.get(path_of("open_case"), params={"citizen_id": CITIZEN_ID})
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    body = resp.json()
    assert body["error"] == "unauthenticated"
    assert body["problems"] == [
        {
            "field": "Authorization",
            "rule": "credentials.missing",
            "message": "no credentials: send 'Authorization: Bearer <token>'",
        }
    ]
    assert body["request_hash"] == resp.headers["x-request-hash"]
    rec = last_audit(gateway)
    assert (rec.consumer, rec.outcome, rec.status, rec.rows) == (None, "unauthenticated", 401, 0)


def test_401_with_unknown_token_never_echoes_it(client: TestClient, gateway: Gateway) -> None:
    resp = client.get(
        path_of("open_case"),
        params={"citizen_id": CITIZEN_ID},
        headers={"Authorization": "Bearer leaked-or-guessed"},
    )
    assert resp.status_code == 401
    assert resp.json()["problems"][0]["rule"] == "credentials.unknown"
    assert "leaked-or-guessed" not in resp.text
    exported = gateway.audit.export_text("jsonl")
    assert "leaked-or-guessed" not in exported
    assert CITIZEN_ID not in exported  # parameters are audited as a digest


def test_403_bodies_name_the_reason(client: TestClient, gateway: Gateway) -> None:
    narrow = {"Authorization": "Bearer tok-narrow"}
    cases = [
        (narrow, "many_cases", {"count": "1"}, "service.not_granted", "service"),
        (CORE, "conditional_case", {"citizen_id": CITIZEN_ID}, "purpose.required", "purpose"),
        (
            CORE,
            "conditional_case",
            {"citizen_id": CITIZEN_ID, "purpose": "想看看"},
            "purpose.not_allowed",
            "purpose",
        ),
        (CORE, "secret_case", {"citizen_id": CITIZEN_ID}, "sharing.not_shared", "service"),
    ]
    for headers, service, params, rule, field in cases:
        resp = client.get(path_of(service), params=params, headers=headers)
        assert resp.status_code == 403, service
        body = resp.json()
        assert body["error"] == "forbidden"
        assert body["problems"][0]["rule"] == rule
        assert body["problems"][0]["field"] == field
        assert body["message"]
        rec = last_audit(gateway)
        assert rec.outcome == "forbidden" and rec.status == 403 and rec.reason == body["message"]
        assert rec.fields == [] and rec.rows == 0


def test_422_names_the_field_and_rule(client: TestClient, gateway: Gateway) -> None:
    resp = client.get(
        path_of("open_case"), params={"citizen_id": "110105194912310021"}, headers=CORE
    )
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"] == "invalid_params"
    assert body["problems"][0]["field"] == "citizen_id"
    assert body["problems"][0]["rule"] == "citizen_id.check_digit"
    missing = client.get(path_of("open_case"), headers=CORE).json()
    assert missing["problems"][0] == {
        "field": "citizen_id",
        "rule": "missing",
        "message": "Field required",
    }
    extra = client.get(
        path_of("open_case"), params={"citizen_id": CITIZEN_ID, "x": "1"}, headers=CORE
    ).json()
    assert extra["problems"][0]["rule"] == "extra_forbidden"
    assert last_audit(gateway).outcome == "invalid_params"


@pytest.mark.parametrize("size", ["0", "51", "ten", "-1"])
def test_422_for_bad_page_size(client: TestClient, size: str) -> None:
    resp = client.get(path_of("many_cases"), params={"count": "3", "page_size": size}, headers=CORE)
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["field"] == "page_size"


@pytest.mark.parametrize("token", ["garbage!", "e30", "eyJvIjotMSwicSI6IngifQ"])
def test_422_for_bad_page_token(client: TestClient, token: str) -> None:
    resp = client.get(path_of("many_cases"), params={"count": "3", "page": token}, headers=CORE)
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["rule"] == "page.invalid"


def test_a_forged_page_token_is_refused(client: TestClient) -> None:
    import base64
    import json

    first = client.get(
        path_of("many_cases"), params={"count": "30", "page_size": "10"}, headers=CORE
    )
    token = first.json()["next_page"]
    data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    data["o"] = 10**9  # skip to the end of a huge table
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    resp = client.get(
        path_of("many_cases"),
        params={"count": "30", "page_size": "10", "page": forged},
        headers=CORE,
    )
    assert resp.status_code == 422
    assert resp.json()["problems"][0]["rule"] == "page.invalid"


def test_a_page_token_is_followed_for_an_hour_then_refused_as_expired(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tokens are signed with a key derived from the audit key, which outlives restarts: the
    issue time inside the signed token is what ends them (``PAGE_TOKEN_MAX_AGE``)."""
    import time

    from govconnect.gateway import paging

    params = {"count": "30", "page_size": "10"}
    token = client.get(path_of("many_cases"), params=params, headers=CORE).json()["next_page"]
    issued = time.time()
    later = {**params, "page": token}
    monkeypatch.setattr(paging, "_clock", lambda: issued + paging.PAGE_TOKEN_MAX_AGE - 5)
    assert client.get(path_of("many_cases"), params=later, headers=CORE).status_code == 200
    for moved in (paging.PAGE_TOKEN_MAX_AGE + 5, -3600):  # too old; issued an hour ahead
        monkeypatch.setattr(paging, "_clock", lambda moved=moved: issued + moved)
        resp = client.get(path_of("many_cases"), params=later, headers=CORE)
        assert resp.status_code == 422
        problem = resp.json()["problems"][0]
        assert problem["field"] == "page" and problem["rule"] == "page.expired"
        assert "60 minutes" in problem["message"]


def test_404_for_unknown_service(client: TestClient, gateway: Gateway) -> None:
    resp = client.get("/services/X/Y/nothing/v1", headers=CORE)
    assert resp.status_code == 404
    assert resp.json()["error"] == "not_found"
    assert last_audit(gateway).outcome == "not_found"


def test_legacy_failure_is_502_without_internals(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    resp = client.get(path_of("broken"), params={"citizen_id": CITIZEN_ID}, headers=CORE)
    assert resp.status_code == 502
    assert resp.json()["error"] == "legacy_failure"
    assert "Traceback" not in resp.text and "RuntimeError" not in resp.text
    assert CITIZEN_ID not in caplog.text  # the exception message carried it; not logged


def test_dirty_legacy_row_is_502_not_the_callers_422(client: TestClient) -> None:
    resp = client.get(path_of("dirty"), params={"citizen_id": CITIZEN_ID}, headers=CORE)
    assert resp.status_code == 502
    assert "110105194912310021" not in resp.text


def test_audit_failure_refuses_to_serve(client: TestClient, gateway: Gateway) -> None:
    gateway.audit.close()
    resp = client.get(path_of("open_case"), params={"citizen_id": CITIZEN_ID}, headers=CORE)
    assert resp.status_code == 503
    assert resp.json()["error"] == "audit_unavailable"
    assert "records" not in resp.json()
    assert client.get("/readyz").status_code == 503


# --- answers ----------------------------------------------------------------------------------


def test_discovery_of_allowed_services_is_audited(client: TestClient, gateway: Gateway) -> None:
    from govconnect.gateway.discovery import DISCOVERY_SERVICE

    ok = client.get("/services/allowed", headers=SENSITIVE)
    assert ok.status_code == 200
    rec = last_audit(gateway)
    assert (rec.service, rec.consumer, rec.outcome, rec.status) == (
        DISCOVERY_SERVICE,
        "C2M",
        "ok",
        200,
    )
    probe = client.get("/services/allowed", headers={"Authorization": "Bearer guessed"})
    assert probe.status_code == 401
    rec = last_audit(gateway)
    assert (rec.service, rec.consumer, rec.status) == (DISCOVERY_SERVICE, None, 401)
    assert gateway.audit.verify().problems == []


def test_allowed_call_is_audited_with_fields_and_rows(client: TestClient, gateway: Gateway) -> None:
    resp = client.get(
        path_of("conditional_case"),
        params={"citizen_id": CITIZEN_ID, "purpose": PURPOSE},
        headers={**SENSITIVE, "X-Case-Id": "BJ2026-0001", "X-Handling-Officer": "officer-7"},
    )
    assert resp.status_code == 200
    rec = last_audit(gateway)
    assert rec.consumer == "C2M"
    assert rec.service == "11010500009/JZXT/conditional_case/v1"
    assert rec.purpose == PURPOSE
    assert rec.outcome == "ok" and rec.status == 200 and rec.rows == 1
    assert rec.fields == ["case_no", "office", "employer", "citizen_id", "name", "phone", "born"]
    assert rec.withheld == ["income", "verdict"]
    assert "citizen_id" in rec.masked
    assert rec.case_id == "BJ2026-0001" and rec.officer == "officer-7"
    assert rec.request_hash == resp.json()["request_hash"]
    # keyed: the plain digest of an ID (reversible by trying a district's IDs) is not stored
    assert rec.params_digest == gateway.audit.params_digest({"citizen_id": CITIZEN_ID})
    assert rec.params_digest != digest('{"citizen_id":"11010519491231002X"}')
    assert [r.seq for r in gateway.audit.find({"citizen_id": CITIZEN_ID})] == [rec.seq]


def test_request_hash_can_be_recomputed_by_the_consumer(client: TestClient) -> None:
    resp = client.get(
        path_of("open_case"),
        params={"citizen_id": CITIZEN_ID},
        headers={**CORE, "X-Message-Id": "msg-0001"},
    )
    assert resp.headers["x-message-id"] == "msg-0001"
    expected = request_hash(
        service="11010500009/JZXT/open_case/v1",
        consumer="C4P",
        params={"citizen_id": CITIZEN_ID},
        message_id="msg-0001",
    )
    assert resp.json()["request_hash"] == expected == resp.headers["x-request-hash"]
    parts = {
        "service": "s/v1",
        "consumer": None,
        "params": {"b": "乙", "a": ["1", "2"]},
        "purpose": "审核",
        "message_id": "msg-0001",
    }
    expected_bytes = json.dumps(
        {"method": "GET", "page": None, "page_size": None, **parts},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    assert canonical_request(**parts) == expected_bytes
    other = client.get(
        path_of("open_case"),
        params={"citizen_id": CITIZEN_ID},
        headers={**CORE, "X-Message-Id": "msg-0002"},
    )
    assert other.json()["request_hash"] != expected


def test_paging_walks_every_record_once(client: TestClient, gateway: Gateway) -> None:
    seen: list[str] = []
    params = {"count": "23", "page_size": "10"}
    pages = 0
    while True:
        body = client.get(path_of("many_cases"), params=params, headers=CORE).json()
        seen += [r["case_no"] for r in body["records"]]
        pages += 1
        if body["next_page"] is None:
            break
        params = {"count": "23", "page_size": "10", "page": body["next_page"]}
        assert pages < 10
    assert pages == 3
    assert seen == [f"BJ2026-{i:04d}" for i in range(1, 24)]
    assert [r.rows for r in gateway.audit.records()][-3:] == [10, 10, 3]


def test_page_token_is_bound_to_its_query(client: TestClient) -> None:
    first = client.get(path_of("many_cases"), params={"count": "30"}, headers=CORE).json()
    assert len(first["records"]) == 10  # default_page_size
    resp = client.get(
        path_of("many_cases"), params={"count": "31", "page": first["next_page"]}, headers=CORE
    )
    assert resp.status_code == 422


def test_empty_result_is_200_with_no_records(client: TestClient) -> None:
    resp = client.get(
        path_of("open_case"), params={"citizen_id": "110105194806110593"}, headers=CORE
    )
    assert resp.status_code == 200
    assert resp.json()["records"] == [] and resp.json()["next_page"] is None


# --- operations -------------------------------------------------------------------------------


def test_health_ready_metrics_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    client.get(path_of("open_case"), params={"citizen_id": CITIZEN_ID}, headers=CORE)
    client.get(path_of("open_case"), params={"citizen_id": CITIZEN_ID})
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["audit_records"] == 2
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    svc = "11010500009/JZXT/open_case/v1"
    assert (
        f'govconnect_gateway_requests_total{{service="{svc}",outcome="ok",status="200"}} 1' in text
    )
    assert 'outcome="unauthenticated",status="401"} 1' in text
    assert f'govconnect_gateway_rows_total{{service="{svc}"}} 1' in text
    spec = client.get("/openapi.json").json()
    assert "/services/allowed" in spec["paths"] and "/metrics" in spec["paths"]
    assert f"/services/{svc}" in spec["paths"]


def test_reserved_parameter_names_are_refused(tmp_path: Path) -> None:
    from pydantic import BaseModel

    from govconnect import Connector, Department, LegacySystem, hookimpl, query
    from govconnect._exceptions import ConfigurationError

    from .gateway_support import Case

    class Bad(BaseModel):
        purpose: str

    class Clash(Connector):
        name = "clash"
        department = Department(code="D9", name="冲突局")
        system = LegacySystem(code="S9", name="冲突系统")

        @query(
            code="111112001/0901",
            name="冲突查询",
            abstract="参数名与网关保留参数冲突",
            sharing="unconditional",
            update_cycle="daily",
            published="2026-01-01",
            params=Bad,
            record=Case,
        )
        def clash(self, params: Bad) -> list[Case]:
            return []

    class Plugin:
        @hookimpl
        def register_connectors(self) -> list[type[Connector]]:
            return [Clash]

    reg = load_registry(plugins=[Plugin()], entry_points=False, config={})
    assert not reg.errors
    with pytest.raises(ConfigurationError, match="reserves"):
        Gateway(reg, load_gateway_config({}), audit=tmp_path / "a.sqlite")


# --- end to end over real HTTP ----------------------------------------------------------------


def test_household_resident_over_real_http(tmp_path: Path) -> None:
    from govconnect_household import create_sample_database

    url = f"sqlite:///{tmp_path / 'household.sqlite'}"
    create_sample_database(url, count=50)
    cid = (
        sqlite3.connect(tmp_path / "household.sqlite")
        .execute("SELECT gmsfhm FROM hj_resident ORDER BY gmsfhm LIMIT 1")
        .fetchone()[0]
    )
    config = load_gateway_config(Path(__file__).parent.parent / "examples" / "gateway.toml")
    config.connectors["household"] = {"url": url}
    reg = load_registry(entry_points=True, config={})
    gateway = Gateway(reg, config, audit=tmp_path / "audit.sqlite")
    path = "/services/11010500000/HJGL/resident/v1"
    with serve_in_thread(gateway.app) as base, httpx.Client(base_url=base, timeout=10) as http:
        masked = http.get(
            path,
            params={"citizen_id": cid, "purpose": "最低生活保障审核"},
            headers={"Authorization": "Bearer demo-minzheng-token"},
        )
        plain = http.get(
            path,
            params={"citizen_id": cid, "purpose": "养老保险待遇资格认证"},
            headers={"Authorization": "Bearer demo-shebao-token"},
        )
        stats = http.get(
            path,
            params={"citizen_id": cid, "purpose": "人口抽样调查核验"},
            headers={"Authorization": "Bearer demo-tongji-token"},
        )
        refused = http.get(
            path,
            params={"citizen_id": cid, "purpose": "最低生活保障审核"},
            headers={"Authorization": "Bearer demo-shebao-token"},
        )
        cert = http.get(
            path,
            params={"citizen_id": cid, "purpose": "临时救助审核"},
            headers={"X-Client-Cert-Subject": "CN=dbxt.mz.chaoyang.gov.cn,O=朝阳区民政局".encode()},
        )
    assert masked.status_code == 200, masked.text
    [m] = masked.json()["records"]
    assert m["citizen_id"] == cid[:6] + "*" * 8 + cid[-4:]
    assert m["name"].endswith("*") and m["region_code"] == cid[:6]
    assert plain.json()["records"][0]["citizen_id"] == cid
    assert plain.json()["masked_fields"] == []
    s = stats.json()
    assert set(s["withheld_fields"]) == {
        "citizen_id",
        "name",
        "ethnicity",
        "birth_date",
        "address",
        "phone",
    }
    assert "citizen_id" not in s["records"][0]
    assert refused.status_code == 403
    assert cert.status_code == 401  # the example does not trust the proxy header
    gateway.close()
    with AuditLog(tmp_path / "audit.sqlite") as audit:
        assert audit.verify().records == 5
        assert [r.outcome for r in audit.records()] == [
            "ok",
            "ok",
            "ok",
            "forbidden",
            "unauthenticated",
        ]
        [usage] = audit.usage()
        assert (usage.calls, usage.allowed, usage.rows, usage.consumers) == (5, 3, 3, 3)


def test_gateway_openapi_is_valid_and_documents_the_gateway_parameters(gateway: Gateway) -> None:
    from openapi_spec_validator import validate

    spec = gateway.openapi
    validate(spec)
    item = spec["paths"][path_of("open_case")]
    assert [p["name"] for p in item["parameters"]] == ["purpose", "page_size", "page"]
    assert item["parameters"][1]["schema"]["maximum"] == 50  # the gateway file's max_page_size
    served = spec["components"]["schemas"]["CaseServed"]
    assert "required" not in served
    assert served["properties"]["citizen_id"]["x-classification"] == "sensitive"
    assert {"type": "string", "description": "masked"} in served["properties"]["born"]["anyOf"]
    assert (
        served["properties"]["case_no"]
        == spec["components"]["schemas"]["Case"]["properties"]["case_no"]
    )


def test_serve_command_wires_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from govconnect.cli import app, build

    seen: dict[str, object] = {}

    def fake_run(server: uvicorn.Server, sockets: list[socket.socket]) -> None:
        # serve binds its socket itself (a busy port is one line, exit 1) and hands it over
        asgi = server.config.app
        seen["app"] = asgi
        seen["host"], seen["port"] = sockets[0].getsockname()[:2]
        seen["access_log"] = server.config.access_log
        with TestClient(asgi) as http:  # type: ignore[arg-type]
            seen["ready"] = http.get("/readyz").status_code

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    build()
    example = Path(__file__).parent.parent / "examples" / "gateway.toml"
    # the example's household database, where its relative URL points (never created empty)
    from govconnect_household import create_sample_database

    monkeypatch.chdir(tmp_path)
    create_sample_database("sqlite:///.govconnect/household.sqlite", count=5)
    audit = tmp_path / "audit.sqlite"
    res = CliRunner().invoke(
        app,
        ["serve", "--config", str(example), "--port", "0", "--audit-log", str(audit)],
        catch_exceptions=False,
    )
    assert res.exit_code == 0, res.output
    assert seen["port"] != 0 and seen["host"] == "127.0.0.1"  # the port the OS gave
    assert seen["access_log"] is False  # query strings carry citizen IDs
    assert seen["ready"] == 200
    from govconnect import load_registry

    # the connectors the gateway file configures; other installed ones are named and left out
    queries = [s for s in load_registry(config={}).services("household") if s.kind == "query"]
    assert f"serving {len(queries)} service(s) to 3 consumer(s)" in res.output
