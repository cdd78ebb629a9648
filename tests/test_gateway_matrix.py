"""Consumers x services x classification levels: exactly which fields come back, and how.

Every consumer level (public … core) with and without the personal-information grant calls every
kind of service (unconditional, conditional, not shared). The expected answer is computed from the
field table in ``gateway_support`` — not from the gateway's own policy code.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from govconnect import Level
from govconnect.gateway.app import Gateway
from govconnect.gateway.policy import load_gateway_config

from .gateway_support import (
    CITIZEN_ID,
    FIELDS,
    MASKED,
    PLAIN,
    PURPOSE,
    config_data,
    consumer_id,
    make_gateway,
    path_of,
    registry,
    token,
)

SERVICES = ["open_case", "conditional_case", "secret_case"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    gateway = make_gateway(Path(tmp_path_factory.mktemp("matrix")))
    return TestClient(gateway.app)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("personal", [False, True], ids=["masked", "unmasked"])
@pytest.mark.parametrize("level", list(Level), ids=[lv.value for lv in Level])
def test_fields_returned(client: TestClient, level: Level, personal: bool, service: str) -> None:
    resp = client.get(
        path_of(service),
        params={"citizen_id": CITIZEN_ID, "purpose": PURPOSE},
        headers={"Authorization": f"Bearer {token(level, personal)}"},
    )
    if service == "secret_case":
        assert resp.status_code == 403
        body = resp.json()
        assert body["error"] == "forbidden"
        assert body["problems"][0]["rule"] == "sharing.not_shared"
        assert "records" not in body
        return
    assert resp.status_code == 200, resp.text
    body = resp.json()
    visible = {name for name, (lvl, _) in FIELDS.items() if lvl.rank <= level.rank}
    withheld = set(FIELDS) - visible
    masked = set() if personal else {n for n in visible if FIELDS[n][1]}
    assert set(body["withheld_fields"]) == withheld
    assert set(body["masked_fields"]) == masked
    [record] = body["records"]
    assert set(record) == visible
    for name in visible:
        expected = MASKED[name] if name in masked else PLAIN[name]
        assert record[name] == expected, name
    assert CITIZEN_ID not in resp.text or personal


@pytest.mark.parametrize("level", list(Level), ids=[lv.value for lv in Level])
def test_allowed_services_list_what_each_consumer_sees(client: TestClient, level: Level) -> None:
    resp = client.get(
        "/services/allowed", headers={"Authorization": f"Bearer {token(level, False)}"}
    )
    assert resp.status_code == 200
    listed = {s["id"].split("/")[2]: s for s in resp.json()["services"]}
    assert "secret_case" not in listed  # not shared: never offered
    assert {"open_case", "conditional_case", "many_cases"} <= set(listed)
    entry = listed["open_case"]
    assert set(entry["returned_fields"]) == {
        n for n, (lvl, _) in FIELDS.items() if lvl.rank <= level.rank
    }
    assert set(entry["masked_fields"]) == {n for n in entry["returned_fields"] if FIELDS[n][1]}
    assert listed["conditional_case"]["purposes"] == [PURPOSE]


def test_list_all_services_includes_every_query_service(client: TestClient) -> None:
    resp = client.get("/services")
    ids = [s["id"] for s in resp.json()["services"]]
    assert len(ids) == 6
    secret = next(s for s in resp.json()["services"] if s["id"].endswith("secret_case/v1"))
    assert secret["sharing"] == "not_shared"


# --- the verified-officer dimension --------------------------------------------------------------


@pytest.fixture(scope="module")
def officer_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    """The same consumers behind a gateway that trusts the mock authentication center, each
    with one officer of its own department."""
    pytest.importorskip("jwt")
    from govconnect.testing import MockIdentityCenter

    with MockIdentityCenter() as center:
        data = config_data()
        data["issuers"] = [center.issuer_settings()]
        for consumer in data["consumers"]:
            center.add_user(f"officer-{consumer['department']}", department=consumer["department"])
        gateway = Gateway(
            registry(),
            load_gateway_config(data),
            audit=Path(tmp_path_factory.mktemp("officers")) / "audit.sqlite",
        )
        try:
            yield TestClient(gateway.app), center
        finally:
            gateway.close()


@pytest.mark.parametrize("officer", ["none", "verified"])
@pytest.mark.parametrize("personal", [False, True], ids=["masked", "unmasked"])
@pytest.mark.parametrize("level", list(Level), ids=[lv.value for lv in Level])
def test_a_verified_officer_is_required_above_internal(
    officer_client: tuple[TestClient, Any], level: Level, personal: bool, officer: str
) -> None:
    client, center = officer_client
    headers = {"Authorization": f"Bearer {token(level, personal)}"}
    if officer == "verified":
        headers["X-Officer-Token"] = center.token(f"officer-{consumer_id(level, personal)}")
    resp = client.get(path_of("open_case"), params={"citizen_id": CITIZEN_ID}, headers=headers)
    if officer == "none" and level > Level.INTERNAL:
        assert resp.status_code == 403, resp.text
        assert resp.json()["problems"][0]["rule"] == "officer.required"
    else:
        assert resp.status_code == 200, resp.text
