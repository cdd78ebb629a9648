"""Verified officers at the gateway, against the mock authentication center (a real OIDC issuer
on loopback): every rule with a case that breaks it, key rotation while serving, the audit
record of a verified officer, and gateway files without an issuer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.testclient import TestClient

from govconnect import Level
from govconnect._exceptions import ConfigurationError
from govconnect.gateway.app import Gateway
from govconnect.gateway.bounds import MAX_OFFICER_TOKEN
from govconnect.gateway.policy import load_gateway_config
from govconnect.testing import MockIdentityCenter

from .gateway_support import (
    CITIZEN_ID,
    PURPOSE,
    config_data,
    consumer_id,
    path_of,
    registry,
    serve_in_thread,
    token,
)

pytest.importorskip("jwt")

SENSITIVE = consumer_id(Level.SENSITIVE, False)  # department "C2M": sees sensitive fields, masked
INTERNAL = consumer_id(Level.INTERNAL, False)  # "C1M": sees nothing above internal
ROLE = "救助审核员"


def ext(text: str) -> str:
    """Header text as an RFC 8187 ext-value (what an ASCII-only HTTP client sends)."""
    return "UTF-8''" + quote(text)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def center(mock_identity: MockIdentityCenter) -> MockIdentityCenter:
    mock_identity.add_user("officer-1", department=SENSITIVE, roles=[ROLE])
    mock_identity.add_user("officer-2", department="OTHER-DEPT", roles=[ROLE])
    mock_identity.add_user("clerk", department=SENSITIVE, roles=["窗口受理员"])
    return mock_identity


def officer_gateway(
    tmp_path: Path, center: MockIdentityCenter, *, issuer: dict[str, Any] | None = None, **top: Any
) -> Gateway:
    data = config_data()
    data["issuers"] = [center.issuer_settings(refresh_seconds=1, **(issuer or {}))]
    data.update(top)
    return Gateway(registry(), load_gateway_config(data), audit=tmp_path / "audit.sqlite")


@pytest.fixture
def gateway(tmp_path: Path, center: MockIdentityCenter) -> Iterator[Gateway]:
    gw = officer_gateway(
        tmp_path, center, services={"assistance.conditional_case": {"roles": [ROLE]}}
    )
    yield gw
    gw.close()


def call(
    gateway: Gateway,
    officer_token: str | None = None,
    *,
    consumer: str = SENSITIVE,
    service: str = "open_case",
    **headers: str,
) -> tuple[int, dict[str, Any]]:
    level = {SENSITIVE: Level.SENSITIVE, INTERNAL: Level.INTERNAL}[consumer]
    sent = {"Authorization": f"Bearer {token(level, False)}", **headers}
    if officer_token is not None:
        sent["X-Officer-Token"] = officer_token
    with TestClient(gateway.app) as client:
        resp = client.get(
            path_of(service), params={"citizen_id": CITIZEN_ID, "purpose": PURPOSE}, headers=sent
        )
    return resp.status_code, resp.json()


def last_record(gateway: Gateway) -> Any:
    return list(gateway.audit.records())[-1]


# --- verified, claimed, required ------------------------------------------------------------------


def test_a_verified_officer_is_served_and_audited_by_digest_never_by_token(
    gateway: Gateway, center: MockIdentityCenter, tmp_path: Path
) -> None:
    officer_token = center.token("officer-1", jti="tok-0001")
    status, body = call(gateway, officer_token, **{"X-Handling-Officer": ext("张三")})
    assert status == 200, body
    rec = last_record(gateway)
    assert rec.officer_auth == "verified"
    assert rec.officer_digest == gateway.audit.officer_digest("officer-1")
    assert rec.officer_digest != hashlib.sha256(b"officer-1").hexdigest()
    assert (rec.officer_issuer, rec.officer_level, rec.token_id) == (
        center.issuer,
        "urn:govconnect:loa:2",
        "tok-0001",
    )
    assert rec.officer == "张三"  # the claimed name is kept, as claimed
    assert gateway.audit.verify().records == len(gateway.audit)
    assert [r.seq for r in gateway.audit.find_officer("officer-1")] == [rec.seq]
    gateway.audit.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("audit.sqlite*"))
    assert officer_token.encode() not in stored
    assert officer_token.split(".")[2].encode() not in stored  # not even its signature


def test_above_internal_needs_a_verified_officer_by_default(gateway: Gateway) -> None:
    status, body = call(gateway, **{"X-Handling-Officer": ext("张三")})
    assert (status, body["error"], body["problems"][0]["rule"]) == (
        403,
        "forbidden",
        "officer.required",
    )
    rec = last_record(gateway)
    assert (rec.officer_auth, rec.officer, rec.status) == ("claimed", "张三", 403)


def test_internal_data_needs_no_officer_and_a_claimed_one_stays_claimed(gateway: Gateway) -> None:
    status, _ = call(gateway, consumer=INTERNAL, **{"X-Handling-Officer": ext("李四")})
    assert status == 200
    rec = last_record(gateway)
    assert (rec.officer_auth, rec.officer, rec.officer_digest) == ("claimed", "李四", None)


def test_a_service_role_is_required(gateway: Gateway, center: MockIdentityCenter) -> None:
    assert call(gateway, center.token("officer-1"), service="conditional_case")[0] == 200
    status, body = call(gateway, center.token("clerk"), service="conditional_case")
    assert (status, body["problems"][0]["rule"]) == (403, "officer.role")
    rec = last_record(gateway)
    assert (rec.officer_auth, rec.officer_digest) == (
        "verified",
        gateway.audit.officer_digest("clerk"),
    )


def test_consumer_and_service_rules_override_the_default(
    tmp_path: Path, center: MockIdentityCenter
) -> None:
    data = config_data()
    for consumer in data["consumers"]:
        if consumer["department"] == SENSITIVE:
            consumer["officer_required"] = False
            consumer["officer_departments"] = ["*"]
        if consumer["department"] == INTERNAL:
            consumer["officer_required"] = True
    data["issuers"] = [center.issuer_settings()]
    gw = Gateway(registry(), load_gateway_config(data), audit=tmp_path / "a.sqlite")
    try:
        assert call(gw)[0] == 200  # a batch system, lifted on purpose
        assert call(gw, center.token("officer-2"))[0] == 200  # any department, on purpose
        assert call(gw, consumer=INTERNAL)[1]["problems"][0]["rule"] == "officer.required"
    finally:
        gw.close()


# --- bad input: each refused naming its rule, audited, never a 500 -----------------------------


def unsigned(center: MockIdentityCenter) -> str:
    good = center.token("officer-1")
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": center.kid}).encode())
    return f"{header}.{good.split('.')[1]}."


def hmac_with_public_key(center: MockIdentityCenter) -> str:
    """Algorithm confusion: HS256 "signed" with the issuer's public key as the HMAC secret."""
    good = center.token("officer-1")
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": center.kid}).encode())
    signing_input = f"{header}.{good.split('.')[1]}".encode()
    mac = hmac.new(center.public_key_pem(), signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{b64(mac)}"


def tampered(center: MockIdentityCenter) -> str:
    head, payload, sig = center.token("officer-1").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["department"] = "C4P"
    return f"{head}.{b64(json.dumps(claims).encode())}.{sig}"


BAD_TOKENS = {
    "expired": (
        lambda c: c.token("officer-1", issued_at=time.time() - 3600, expires_in=60),
        401,
        "officer.expired",
    ),
    "not yet valid": (
        lambda c: c.token("officer-1", not_before=time.time() + 600),
        401,
        "officer.not_yet_valid",
    ),
    "issued in the future": (
        lambda c: c.token("officer-1", issued_at=time.time() + 600),
        401,
        "officer.not_yet_valid",
    ),
    "wrong issuer": (
        lambda c: c.token("officer-1", issuer="https://idp.elsewhere.gov.cn"),
        401,
        "officer.issuer",
    ),
    "wrong audience": (
        lambda c: c.token("officer-1", audience="another-gateway"),
        401,
        "officer.audience",
    ),
    "no audience": (lambda c: c.token("officer-1", aud=None), 401, "officer.claim_missing"),
    "no expiry": (lambda c: c.token("officer-1", exp=None), 401, "officer.claim_missing"),
    "alg none": (unsigned, 401, "officer.algorithm"),
    "HMAC signed with the public key": (hmac_with_public_key, 401, "officer.algorithm"),
    "signature tampered": (tampered, 401, "officer.signature"),
    "unknown kid": (lambda c: c.token("officer-1", kid="not-a-key"), 401, "officer.key_unknown"),
    "not a JWT": (lambda c: "not-a-token", 401, "officer.malformed"),
    "oversized": (lambda c: "x" * (MAX_OFFICER_TOKEN + 1), 422, "header.too_long"),
    "another department": (lambda c: c.token("officer-2"), 403, "officer.department"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_a_bad_token_is_refused_naming_the_rule_and_audited(
    gateway: Gateway, center: MockIdentityCenter, case: str
) -> None:
    make, status, rule = BAD_TOKENS[case]
    bad = make(center)
    before = len(gateway.audit)
    got, body = call(gateway, bad)
    assert (got, body["problems"][0]["rule"]) == (status, rule), body
    assert body["problems"][0]["field"] == "X-Officer-Token"
    assert len(gateway.audit) == before + 1
    rec = last_record(gateway)
    assert rec.status == status
    assert rec.officer_auth == ("verified" if status == 403 else "rejected")
    assert bad not in json.dumps(rec.as_dict())


def test_an_unknown_kid_refreshes_the_keys_at_most_once_per_interval(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    assert call(gateway, center.token("officer-1"))[0] == 200
    fetched = center.requests["jwks"]
    time.sleep(1.1)
    for _ in range(5):
        assert call(gateway, center.token("officer-1", kid="nope"))[1]["problems"][0]["rule"] == (
            "officer.key_unknown"
        )
    assert center.requests["jwks"] == fetched + 1


@pytest.mark.parametrize("fault", ["down", "junk", "huge", "empty"])
def test_no_keys_means_no_verification_the_gateway_fails_closed(
    tmp_path: Path, center: MockIdentityCenter, fault: str
) -> None:
    center.jwks_fault = fault
    gw = officer_gateway(tmp_path, center)
    try:
        status, body = call(gw, center.token("officer-1"))
        assert (status, body["error"], body["problems"][0]["rule"]) == (
            503,
            "identity_unavailable",
            "officer.issuer_unavailable",
        )
        assert last_record(gw).status == 503
        center.jwks_fault = None  # the center recovers: after the interval, keys are fetched
        time.sleep(1.1)
        assert call(gw, center.token("officer-1"))[0] == 200
    finally:
        gw.close()


def test_a_slow_jwks_endpoint_is_cut_off(tmp_path: Path, center: MockIdentityCenter) -> None:
    center.jwks_fault = "slow"
    gw = officer_gateway(tmp_path, center, issuer={"timeout_seconds": 0.5})
    try:
        started = time.monotonic()
        status, body = call(gw, center.token("officer-1"))
        assert (status, body["problems"][0]["rule"]) == (503, "officer.issuer_unavailable")
        assert time.monotonic() - started < 3
    finally:
        center.jwks_fault = None
        gw.close()


def test_an_issuer_that_is_down_at_discovery_fails_closed(tmp_path: Path) -> None:
    data = config_data()
    data["issuers"] = [{"issuer": "http://127.0.0.1:9", "audience": ["x"], "timeout_seconds": 1}]
    gw = Gateway(registry(), load_gateway_config(data), audit=tmp_path / "a.sqlite")
    try:
        with MockIdentityCenter() as other:
            forged = other.token("officer-1", issuer="http://127.0.0.1:9", audience="x")
        status, body = call(gw, forged)
        assert (status, body["problems"][0]["rule"]) == (503, "officer.issuer_unavailable")
    finally:
        gw.close()


def test_es256_tokens_verify(tmp_path: Path, center: MockIdentityCenter) -> None:
    center.rotate(algorithm="ES256")
    gw = officer_gateway(tmp_path, center)
    try:
        officer_token = center.token("officer-1")
        assert (
            json.loads(base64.urlsafe_b64decode(officer_token.split(".")[0] + "=="))["alg"]
            == "ES256"
        )
        assert call(gw, officer_token)[0] == 200
    finally:
        gw.close()


# --- rotation and caching ----------------------------------------------------------------------


def test_keys_rotate_while_serving(gateway: Gateway, center: MockIdentityCenter) -> None:
    statuses: list[int] = []
    stop = threading.Event()
    with serve_in_thread(gateway.app) as url:

        def load() -> None:
            with httpx.Client(base_url=url, timeout=10) as client:
                while not stop.is_set():
                    resp = client.get(
                        path_of("open_case"),
                        params={"citizen_id": CITIZEN_ID},
                        headers={
                            "Authorization": f"Bearer {token(Level.SENSITIVE, False)}",
                            "X-Officer-Token": center.token("officer-1"),
                        },
                    )
                    statuses.append(resp.status_code)

        worker = threading.Thread(target=load)
        worker.start()
        try:
            for _ in range(2):
                time.sleep(1.2)
                center.rotate(keep_old=False)  # the old key is gone from the JWKS
            time.sleep(1.2)
        finally:
            stop.set()
            worker.join(30)
    assert statuses and set(statuses) == {200}, sorted(set(statuses))
    assert center.requests["jwks"] == 3  # the first fetch, then once per rotation
    assert center.requests["discovery"] == 1


def test_a_verified_token_is_verified_once(gateway: Gateway, center: MockIdentityCenter) -> None:
    officer_token = center.token("officer-1")
    verifier = gateway.officers.verifier
    assert verifier is not None
    calls = 0
    original = verifier._verify

    def counting(tok: str) -> Any:
        nonlocal calls
        calls += 1
        return original(tok)

    verifier._verify = counting  # type: ignore[method-assign]
    for _ in range(3):
        assert call(gateway, officer_token)[0] == 200
    assert calls == 1


# --- gateway files -----------------------------------------------------------------------------


def test_a_gateway_file_without_issuers_keeps_working_with_claimed_officers(
    tmp_path: Path,
) -> None:
    gw = Gateway(registry(), load_gateway_config(config_data()), audit=tmp_path / "a.sqlite")
    try:
        status, _ = call(gw, **{"X-Handling-Officer": ext("张三")})
        assert status == 200
        assert last_record(gw).officer_auth == "claimed"
        status, body = call(gw, "a.b.c")  # a token it cannot verify is refused, not ignored
        assert (status, body["problems"][0]["rule"]) == (401, "officer.issuer")
    finally:
        gw.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["gateway"].update(officer_default="always"), "no [[issuers]]"),
        (lambda d: d["consumers"][0].update(officer_required=True), "no [[issuers]]"),
        (lambda d: d.update(services={"assistance.open_case": {"roles": ["x"]}}), "no [[issuers]]"),
        (
            lambda d: d.update(
                issuers=[{"issuer": "http://idp.example.gov.cn", "audience": ["a"]}]
            ),
            "https",
        ),
        (
            lambda d: d.update(
                issuers=[
                    {"issuer": "https://idp.gov.cn", "audience": ["a"], "algorithms": ["HS256"]}
                ]
            ),
            "never 'none' or HMAC",
        ),
        (
            lambda d: d.update(issuers=[{"issuer": "https://idp.gov.cn", "audience": []}]),
            "audience",
        ),
    ],
)
def test_officer_rules_that_cannot_be_met_are_configuration_errors(
    change: Any, message: str
) -> None:
    data = config_data()
    change(data)
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_gateway_config(data)


def test_a_service_rule_must_name_a_served_service(
    tmp_path: Path, center: MockIdentityCenter
) -> None:
    with pytest.raises(ConfigurationError, match="names no loaded service"):
        officer_gateway(tmp_path, center, services={"nobody.nothing": {"officer_required": True}})


# --- audit: old logs, find and usage by officer -------------------------------------------------


def test_a_log_written_before_the_officer_columns_verifies_and_migrates(
    tmp_path: Path, center: MockIdentityCenter
) -> None:
    path = tmp_path / "audit.sqlite"
    from govconnect.gateway.audit import AuditLog

    with AuditLog(path) as log:
        for i in range(3):
            log.append(service="D/S/old/v1", outcome="ok", status=200, rows=i)
    conn = sqlite3.connect(path)  # what a schema-2 gateway wrote: no officer columns
    with conn:
        for column in (
            "officer_auth",
            "officer_digest",
            "officer_issuer",
            "officer_level",
            "token_id",
        ):
            conn.execute(f"ALTER TABLE audit DROP COLUMN {column}")
        conn.execute("UPDATE audit_meta SET value = '2' WHERE key = 'schema'")
    conn.close()
    with AuditLog(path, readonly=True) as log:
        assert log.verify().records == 3
        assert [r.officer_auth for r in log.records()] == [None] * 3
        assert list(log.find_officer("officer-1")) == []
    gw = officer_gateway(tmp_path, center)  # the same log: migrated to schema 3 on opening
    try:
        assert call(gw, center.token("officer-1"))[0] == 200
    finally:
        gw.close()
    with AuditLog(path, readonly=True) as log:
        assert log.verify().records == 4
        meta = dict(sqlite3.connect(path).execute("SELECT key, value FROM audit_meta"))
        assert meta["schema"] == "3"
    conn = sqlite3.connect(path)
    with conn:  # an officer's digest swapped for another's: the keyed hash breaks
        conn.execute("UPDATE audit SET officer_digest = 'ff' WHERE seq = 4")
    conn.close()
    from govconnect._exceptions import AuditIntegrityError

    with (
        AuditLog(path, readonly=True) as log,
        pytest.raises(AuditIntegrityError, match="record 4 altered"),
    ):
        log.verify()


def test_audit_find_officer_and_usage_by_officer_on_the_cli(
    gateway: Gateway, center: MockIdentityCenter, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from govconnect.cli import app, build

    build()
    call(gateway, center.token("officer-1"))
    call(gateway, center.token("officer-1"))
    call(gateway, consumer=INTERNAL, **{"X-Handling-Officer": ext("李四")})
    log = str(tmp_path / "audit.sqlite")
    runner = CliRunner()
    found = runner.invoke(app, ["audit", "find", "--officer", "officer-1", "--log", log])
    assert found.exit_code == 0, found.output
    assert "2 call(s) by this verified officer" in found.output
    usage = runner.invoke(app, ["audit", "usage", "--by", "officer", "--json", "--log", log])
    assert usage.exit_code == 0, usage.output
    rows = json.loads(usage.output)["usage"]
    verified = [r for r in rows if r["auth"] == "verified"]
    assert verified[0]["calls"] == 2
    assert verified[0]["officer"] == gateway.audit.officer_digest("officer-1")
    assert any(r["auth"] == "claimed" and r["officer"] == "李四" for r in rows)
    neither = runner.invoke(app, ["audit", "find", "--log", log])
    assert neither.exit_code == 1


def test_govconnect_mock_identity_serves_an_issuer_and_logs_officers_in(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "govconnect",
            "mock-identity",
            "--port",
            "0",
            "--officer",
            "wangwu=D1:r1",
            "--client-id",
            "mz-dbxt",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert url, first
        deadline = time.monotonic() + 10
        while True:
            try:
                discovery = httpx.get(f"{url[0]}/.well-known/openid-configuration").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert discovery["issuer"] == url[0]
        assert httpx.get(discovery["jwks_uri"]).json()["keys"][0]["alg"] == "RS256"
        printed = [proc.stdout.readline().strip() for _ in range(7)]
        assert 'client_ids = ["mz-dbxt"]' in printed[4] and printed[5].startswith("token of wang")
        claims = json.loads(base64.urlsafe_b64decode(printed[6].split(".")[1] + "=="))
        assert (claims["sub"], claims["azp"], claims["department"]) == ("wangwu", "mz-dbxt", "D1")
        login = httpx.post(
            discovery["token_endpoint"], data={"grant_type": "password", "username": "wangwu"}
        )
        assert login.status_code == 200 and login.json()["token_type"] == "Bearer"
        refused = httpx.post(
            discovery["token_endpoint"], data={"grant_type": "password", "username": "nobody"}
        )
        assert refused.status_code == 400
    finally:
        proc.terminate()
        proc.wait(10)


def forged(header: Any, payload: Any, signature: str = "c2ln") -> str:
    def part(value: Any) -> str:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return b64(raw)

    return f"{part(header)}.{part(payload)}.{signature}"


ODD_TOKENS = {
    "header is a list": (forged([1, 2], {"iss": "x"}), "officer.malformed"),
    "payload is not JSON": (forged({"alg": "RS256"}, b"\xff\xfe"), "officer.malformed"),
    "payload is a list": (forged({"alg": "RS256"}, ["a"]), "officer.malformed"),
    "kid is a number": (forged({"alg": "RS256", "kid": 7}, {"iss": "x"}), "officer.malformed"),
    "alg is huge": (forged({"alg": "R" * 2000}, {"iss": "x"}), "officer.algorithm"),
    "alg is an object": (forged({"alg": {"a": 1}}, {"iss": "x"}), "officer.algorithm"),
    "iss is a list": (forged({"alg": "RS256"}, {"iss": ["x"]}), "officer.issuer"),
    "non-ASCII": ("令牌.令牌.令牌", "officer.malformed"),
    "empty": ("", "officer.malformed"),
    "four parts": ("a.b.c.d", "officer.malformed"),
}


@pytest.mark.parametrize("case", list(ODD_TOKENS))
def test_odd_tokens_are_refused_never_a_500(gateway: Gateway, case: str) -> None:
    bad, rule = ODD_TOKENS[case]
    status, body = asgi_call(gateway, bad)
    assert (status, body["problems"][0]["rule"]) == (401, rule), body
    assert last_record(gateway).officer_auth == "rejected"


def asgi_call(gateway: Gateway, officer_token: str) -> tuple[int, dict[str, Any]]:
    """Straight into the ASGI app, the token's bytes as given (UTF-8: an HTTP client would
    refuse non-ASCII header text)."""
    from .gateway_support import asgi_get

    status, _, body = asgi_get(
        gateway.app,
        path_of("open_case"),
        f"citizen_id={CITIZEN_ID}".encode(),
        [
            (b"authorization", f"Bearer {token(Level.SENSITIVE, False)}".encode()),
            (b"x-officer-token", officer_token.encode()),
        ],
    )
    return status, json.loads(body)


def test_a_token_behind_unknown_consumer_credentials_is_not_checked_nor_called_rejected(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    with TestClient(gateway.app) as client:
        resp = client.get(
            path_of("open_case"),
            params={"citizen_id": CITIZEN_ID},
            headers={
                "Authorization": "Bearer nobody",
                "X-Officer-Token": center.token("officer-1"),
            },
        )
    assert (resp.status_code, resp.json()["problems"][0]["rule"]) == (401, "credentials.unknown")
    assert last_record(gateway).officer_auth is None
    assert center.requests["jwks"] == 0  # no key fetched for a caller nobody knows


def test_old_keys_are_refetched_and_too_old_ones_fail_closed(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    assert call(gateway, center.token("officer-1"))[0] == 200
    verifier = gateway.officers.verifier
    assert verifier is not None
    keys = verifier.keys[center.issuer]
    max_age = keys.settings.max_age_seconds
    fetched = center.requests["jwks"]
    keys._fetched -= max_age + 10  # an hour later: refetched on the next new token
    keys._attempted -= max_age + 10
    assert call(gateway, center.token("officer-1"))[0] == 200
    assert center.requests["jwks"] == fetched + 1
    center.jwks_fault = "down"  # down while the keys are old but within the grace: still served
    keys._fetched -= max_age + 10
    keys._attempted -= max_age + 10
    assert call(gateway, center.token("officer-1"))[0] == 200
    keys._fetched -= 2 * max_age  # past twice the age: no key is trusted any more
    keys._attempted -= 2 * max_age
    status, body = call(gateway, center.token("officer-1"))
    assert (status, body["problems"][0]["rule"]) == (503, "officer.issuer_unavailable")


def test_the_login_level_is_acr_else_amr(gateway: Gateway, center: MockIdentityCenter) -> None:
    assert call(gateway, center.token("officer-1", acr=None, amr=["pwd", "otp"]))[0] == 200
    assert last_record(gateway).officer_level == "pwd+otp"


def test_core_imports_do_not_need_pyjwt() -> None:
    import subprocess
    import sys

    code = (
        "import sys, govconnect, govconnect.gateway.app, govconnect.testing, govconnect.cli;"
        "from govconnect.gateway.policy import load_gateway_config;"
        "load_gateway_config({});"
        "assert 'jwt' not in sys.modules and 'cryptography' not in sys.modules, 'imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_gateway_check_says_whether_officers_are_verified(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from govconnect.cli import app, build

    build()
    path = tmp_path / "gateway.toml"
    path.write_text(Path("examples/gateway.toml").read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(app, ["gateway", "check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "officers are only claimed" in result.output
