"""An officer's token bound to the consumer system forwarding it (``azp``), and the revocation
window of the verified-token cache, against the mock authentication center."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from govconnect import Level
from govconnect._exceptions import ConfigurationError
from govconnect.gateway.app import Gateway
from govconnect.gateway.policy import load_gateway_config
from govconnect.testing import MockIdentityCenter

from .gateway_support import CITIZEN_ID, PURPOSE, config_data, consumer_id, path_of, registry, token

pytest.importorskip("jwt")

SENSITIVE = consumer_id(Level.SENSITIVE, False)  # declares client "dbxt"
UNBOUND = consumer_id(Level.SENSITIVE, True)  # declares no client id
CLIENT, OTHER_CLIENT = "dbxt", "shebao"


def gateway_data(center: MockIdentityCenter, **issuer: Any) -> dict[str, Any]:
    data = config_data()
    for consumer in data["consumers"]:
        if consumer["department"] == SENSITIVE:
            consumer["client_ids"] = [CLIENT]
        elif consumer["department"] == consumer_id(Level.IMPORTANT, False):
            consumer["client_ids"] = [OTHER_CLIENT]
    data["issuers"] = [center.issuer_settings(refresh_seconds=1, **issuer)]
    return data


@pytest.fixture
def center(mock_identity: MockIdentityCenter) -> MockIdentityCenter:
    mock_identity.add_user("officer-1", department=SENSITIVE)
    mock_identity.add_user("officer-p", department=UNBOUND)
    return mock_identity


@pytest.fixture
def gateway(tmp_path: Path, center: MockIdentityCenter) -> Iterator[Gateway]:
    gw = Gateway(registry(), load_gateway_config(gateway_data(center)), audit=tmp_path / "a.db")
    yield gw
    gw.close()


def call(
    gateway: Gateway, officer_token: str, personal: bool = False, level: Level = Level.SENSITIVE
) -> tuple[int, Any]:
    sent = {
        "Authorization": f"Bearer {token(level, personal)}",
        "X-Officer-Token": officer_token,
    }
    with TestClient(gateway.app) as client:
        resp = client.get(
            path_of("open_case"),
            params={"citizen_id": CITIZEN_ID, "purpose": PURPOSE},
            headers=sent,
        )
    return resp.status_code, resp.json()


def refused_as(result: tuple[int, Any]) -> tuple[int, str, str, str]:
    status, body = result
    problem = body["problems"][0]
    return status, body["error"], problem["rule"], problem["field"]


CLIENT_REFUSAL = (403, "forbidden", "officer.client", "X-Officer-Token")


# --- azp binding --------------------------------------------------------------------------------


def test_a_token_issued_to_the_consumers_client_is_served(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    assert call(gateway, center.token("officer-1", azp=CLIENT))[0] == 200
    # without azp, the one audience besides the gateway's own names the client (an ID token)
    both = [center.audience, CLIENT]
    assert call(gateway, center.token("officer-1", audience=both))[0] == 200
    # ... and only when it is one: with another beside it, the client is not known
    three = [center.audience, CLIENT, "elsewhere"]
    assert refused_as(call(gateway, center.token("officer-1", audience=three))) == CLIENT_REFUSAL


def test_an_id_token_whose_audience_is_the_client_is_served(
    tmp_path: Path, center: MockIdentityCenter
) -> None:
    # the issuer's audience lists the consumers' client ids (they forward ID tokens): a client
    # id a consumer declares is never taken for the gateway's own audience
    audience = [center.audience, CLIENT, OTHER_CLIENT]
    data = gateway_data(center, audience=audience)
    gw = Gateway(registry(), load_gateway_config(data), audit=tmp_path / "a.db")
    try:
        assert call(gw, center.token("officer-1", audience=CLIENT))[0] == 200
        assert call(gw, center.token("officer-1", audience=[center.audience, CLIENT]))[0] == 200
        taken = center.token("officer-1", audience=OTHER_CLIENT)
        assert refused_as(call(gw, taken)) == CLIENT_REFUSAL
    finally:
        gw.close()


def test_a_token_issued_to_two_systems_works_through_neither(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    # one SSO ID token for two consumers' systems, no azp: whose it is cannot be told
    shared = center.token("officer-1", audience=[center.audience, CLIENT, OTHER_CLIENT], jti="sso")
    for level, personal in [
        (Level.SENSITIVE, False),  # declares CLIENT
        (Level.IMPORTANT, False),  # declares OTHER_CLIENT
        (Level.SENSITIVE, True),  # declares none: it names another consumer's client
    ]:
        result = call(gateway, shared, personal, level)
        assert refused_as(result) == CLIENT_REFUSAL, (level, personal)
        rec = list(gateway.audit.records())[-1]
        assert (rec.outcome, rec.officer_auth, rec.token_id) == ("forbidden", "verified", "sso")
    message = call(gateway, shared)[1]["problems"][0]["message"]
    assert "client is not known" in message and "dbxt" in message


def test_a_token_with_too_many_audiences_is_refused(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    # a client another consumer declares, past the 64th audience, must not go unseen
    crowd = [center.audience, *(f"c{i}" for i in range(70)), OTHER_CLIENT]
    result = call(gateway, center.token("officer-p", audience=crowd), personal=True)
    assert refused_as(result)[:3] == (401, "unauthenticated", "officer.audience")
    assert "72 audiences" in result[1]["problems"][0]["message"]
    rec = list(gateway.audit.records())[-1]
    assert rec.officer_auth == "rejected"
    # an azp that is not a client id is not taken for "no azp" (and the audience instead)
    for azp in (["dbxt"], ""):
        odd = center.token("officer-1", azp=azp, audience=[center.audience, CLIENT])
        assert refused_as(call(gateway, odd))[2] == "officer.malformed"


def test_a_token_issued_to_another_client_is_refused_and_audited(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    result = call(gateway, center.token("officer-1", azp=OTHER_CLIENT, jti="stolen-1"))
    assert refused_as(result) == CLIENT_REFUSAL
    assert "shebao" in result[1]["problems"][0]["message"]
    rec = list(gateway.audit.records())[-1]
    assert (rec.outcome, rec.status, rec.officer_auth, rec.token_id) == (
        "forbidden",
        403,
        "verified",
        "stolen-1",
    )
    # a token that names no client at all cannot prove it is this consumer's
    assert refused_as(call(gateway, center.token("officer-1"))) == CLIENT_REFUSAL


def test_a_consumer_without_client_ids_takes_no_token_of_another_consumers_client(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    assert call(gateway, center.token("officer-p"), personal=True)[0] == 200
    assert call(gateway, center.token("officer-p", azp="elsewhere"), personal=True)[0] == 200
    taken = center.token("officer-p", azp=OTHER_CLIENT)
    assert refused_as(call(gateway, taken, personal=True)) == CLIENT_REFUSAL


def test_the_token_endpoints_client_id_becomes_azp(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    def login(client_id: str) -> str:
        form = {"grant_type": "password", "username": "officer-1", "client_id": client_id}
        resp = httpx.post(f"{center.url}/token", data=form, timeout=5)
        return str(resp.json()["access_token"])

    assert call(gateway, login(CLIENT))[0] == 200
    assert refused_as(call(gateway, login(OTHER_CLIENT))) == CLIENT_REFUSAL


def test_client_ids_belong_to_one_consumer(center: MockIdentityCenter) -> None:
    data = gateway_data(center)
    data["consumers"][0]["client_ids"] = [CLIENT]
    with pytest.raises(ConfigurationError, match="client id 'dbxt' is declared by consumers"):
        load_gateway_config(data)


def test_binding_can_be_required_of_every_consumer(center: MockIdentityCenter) -> None:
    data = gateway_data(center)
    data["gateway"]["officer_binding"] = "required"
    with pytest.raises(ConfigurationError, match=r"officer_binding = 'required'.*C0M"):
        load_gateway_config(data)
    for consumer in data["consumers"]:
        consumer.setdefault("client_ids", [f"client-{consumer['department']}"])
    assert load_gateway_config(data).gateway.officer_binding == "required"
    del data["issuers"]
    with pytest.raises(ConfigurationError, match="no \\[\\[issuers\\]\\] are trusted"):
        load_gateway_config(data)


def test_the_gateway_warns_of_consumers_whose_tokens_are_not_bound(
    tmp_path: Path, center: MockIdentityCenter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="govconnect.gateway")
    Gateway(registry(), load_gateway_config(gateway_data(center)), audit=tmp_path / "a").close()
    assert "C0M" in caplog.text and "declare no client_ids" in caplog.text
    assert f"{SENSITIVE}," not in caplog.text  # the consumer that declares one is not named
    caplog.clear()
    data = gateway_data(center)
    data["consumers"] = [c for c in data["consumers"] if c.get("client_ids")]
    Gateway(registry(), load_gateway_config(data), audit=tmp_path / "b").close()
    assert "client_ids" not in caplog.text


# --- the revocation window ----------------------------------------------------------------------


def test_a_verified_token_is_believed_at_most_max_cache_seconds(
    tmp_path: Path, center: MockIdentityCenter
) -> None:
    data = gateway_data(center, max_cache_seconds=20)
    gw = Gateway(registry(), load_gateway_config(data), audit=tmp_path / "a.db")
    try:
        assert call(gw, center.token("officer-1", azp=CLIENT, expires_in=3600))[0] == 200
        verifier = gw.officers.verifier
        assert verifier is not None and len(verifier) == 1
        (entry,) = verifier._cache.values()
        assert entry.until - time.time() <= 20
    finally:
        gw.close()
    defaults = load_gateway_config(gateway_data(center)).issuers[0]
    # the revocation window of a withdrawn key nothing new signals: 900 + 60 s
    assert (defaults.max_cache_seconds, defaults.max_age_seconds) == (60, 900)
    with pytest.raises(ConfigurationError, match="max_cache_seconds"):
        load_gateway_config(gateway_data(center, max_cache_seconds=301))


def test_max_cache_seconds_zero_verifies_every_call(
    tmp_path: Path, center: MockIdentityCenter
) -> None:
    data = gateway_data(center, max_cache_seconds=0)
    gw = Gateway(registry(), load_gateway_config(data), audit=tmp_path / "a.db")
    try:
        officer_token = center.token("officer-1", azp=CLIENT)
        for _ in range(2):
            assert call(gw, officer_token)[0] == 200
        verifier = gw.officers.verifier
        assert verifier is not None and len(verifier) == 0
    finally:
        gw.close()


def test_a_withdrawn_key_ends_its_cached_tokens_at_the_next_fetch(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    old = center.token("officer-1", azp=CLIENT, expires_in=3600)
    assert call(gateway, old)[0] == 200
    verifier = gateway.officers.verifier
    assert verifier is not None
    keys = verifier.keys[center.issuer]
    center.rotate()  # the old key stays listed: its tokens stay good
    keys._attempted -= 2  # past refresh_seconds
    assert call(gateway, center.token("officer-1", azp=CLIENT))[0] == 200
    assert call(gateway, old)[0] == 200 and len(verifier) == 2
    center.rotate(keep_old=False)  # both earlier keys are withdrawn
    keys._attempted -= 2
    fetched = center.requests["jwks"]
    assert call(gateway, center.token("officer-1", azp=CLIENT))[0] == 200  # an unknown kid
    assert center.requests["jwks"] == fetched + 1
    assert len(verifier) == 1  # only the token of the new key is remembered
    status, body = call(gateway, old)
    assert (status, body["problems"][0]["rule"]) == (401, "officer.key_unknown")


def test_a_token_checked_while_its_key_is_withdrawn_is_not_remembered(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    assert call(gateway, center.token("officer-1", azp=CLIENT))[0] == 200
    verifier = gateway.officers.verifier
    assert verifier is not None
    (entry,) = verifier._cache.values()
    verifier._withdraw(center.issuer, frozenset({entry.key[1]}))  # as a racing fetch would
    assert len(verifier) == 0
    assert call(gateway, center.token("officer-1", azp=CLIENT))[0] == 200
    assert len(verifier) == 0  # verified with a key already withdrawn: not cached


# --- keys replaced under their kid --------------------------------------------------------------


def test_a_new_key_under_an_old_kid_is_fetched_at_its_first_token(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    old = center.token("officer-1", azp=CLIENT, expires_in=3600)
    assert call(gateway, old)[0] == 200
    verifier = gateway.officers.verifier
    assert verifier is not None
    keys = verifier.keys[center.issuer]
    fetched = center.requests["jwks"]
    center.rotate(kid=center.kid, keep_old=False)  # re-keyed; the kid kept
    keys._attempted -= 2  # past refresh_seconds
    assert call(gateway, center.token("officer-1", azp=CLIENT))[0] == 200
    assert center.requests["jwks"] == fetched + 1
    assert len(verifier) == 1  # the old key's token was dropped with its key
    status, body = call(gateway, old)  # no second fetch within refresh_seconds
    assert (status, body["problems"][0]["rule"]) == (401, "officer.signature")
    assert center.requests["jwks"] == fetched + 1


def test_every_key_sharing_a_kid_is_tried(gateway: Gateway, center: MockIdentityCenter) -> None:
    first = center.token("officer-1", azp=CLIENT)
    center.rotate(kid=center.kid)  # two keys listed under one kid, the old one first
    second = center.token("officer-1", azp=CLIENT)
    assert call(gateway, second)[0] == 200
    assert call(gateway, first)[0] == 200
    assert center.requests["jwks"] == 1


def test_a_bad_signature_refetches_at_most_once_per_refresh_seconds(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    good = center.token("officer-1", azp=CLIENT)
    assert call(gateway, good)[0] == 200
    verifier = gateway.officers.verifier
    assert verifier is not None
    keys = verifier.keys[center.issuer]
    head, _, signature = good.split(".")
    payload = center.token("officer-1", azp=CLIENT, roles=["admin"]).split(".")[1]
    forged = ".".join([head, payload, signature])  # a claim edited
    keys._attempted -= 2
    fetched = center.requests["jwks"]
    for _ in range(3):
        status, body = call(gateway, forged)
        assert (status, body["problems"][0]["rule"]) == (401, "officer.signature")
    assert center.requests["jwks"] == fetched + 1  # the key set did not change: one fetch
    # re-keyed while the center cannot be reached: the gateway cannot tell, and says so
    center.rotate(kid=center.kid, keep_old=False)
    center.jwks_fault = "down"
    keys._attempted -= 2
    status, body = call(gateway, center.token("officer-1", azp=CLIENT))
    assert (status, body["problems"][0]["rule"]) == (503, "officer.issuer_unavailable")


def test_a_key_listed_again_has_its_tokens_remembered_again(
    gateway: Gateway, center: MockIdentityCenter
) -> None:
    old_kid = center.kid
    old = center.token("officer-1", azp=CLIENT, expires_in=3600)
    assert call(gateway, old)[0] == 200
    verifier = gateway.officers.verifier
    assert verifier is not None
    keys = verifier.keys[center.issuer]
    center.rotate(keep_old=False)  # the key withdrawn...
    keys._attempted -= 2
    assert call(gateway, center.token("officer-1", azp=CLIENT))[0] == 200  # ... and noticed
    assert len(verifier) == 1
    assert center.republish(old_kid) == 1  # ... and the withdrawal undone
    keys._attempted -= 2
    assert call(gateway, old)[0] == 200  # its kid is unknown: fetched, listed again
    assert len(verifier) == 2  # remembered, as any token of a listed key
    assert not verifier._withdrawn
