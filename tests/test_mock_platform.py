"""The mock platform as a real server: state, inspection, every fault, reproducibility, the CLI."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from govconnect import ExchangeClient, PlatformRejectedError, RetryableError, RetryPolicy
from govconnect.exchange import platform as P
from govconnect.testing import DEFAULT_NODE, FAULT_PROFILES, Faults, MockPlatform
from tests.hostile_support import mock_platform_cli

CODE = "111112001/2001"


def client_for(platform: MockPlatform, **kw: Any) -> ExchangeClient:
    kw.setdefault("retry", None)
    return ExchangeClient(
        platform.url, token=platform.token, node=DEFAULT_NODE, user_id="u1", timeout=5, **kw
    )


def registered(platform: MockPlatform) -> ExchangeClient:
    client = client_for(platform)
    client.put_resource({"code": CODE, "version": 1})
    return client


def test_fixture_serves_on_loopback(mock_platform: MockPlatform) -> None:
    assert mock_platform.url.startswith("http://127.0.0.1:")
    assert mock_platform.faults == Faults()
    assert registered(mock_platform).list_resources() == [{"code": CODE, "version": 1}]
    assert mock_platform.catalog == {CODE: {"code": CODE, "version": 1}}


def test_factory_fixture(mock_platform_factory: Any) -> None:
    a, b = mock_platform_factory(), mock_platform_factory(faults="flaky", seed=3)
    assert a.url != b.url and b.faults == FAULT_PROFILES["flaky"]


def test_records_state_tombstones_and_applications(mock_platform: MockPlatform) -> None:
    client = registered(mock_platform)
    client.publish(CODE, [{"id": "a", "v": 1}, {"id": "b", "v": 1}, {"v": 0}], idempotency_key="1")
    client.publish(CODE, [{"id": "a", "v": 2}, {"id": "b", "op": "delete"}], idempotency_key="2")
    assert client.publish(
        CODE, [{"id": "a", "v": 2}, {"id": "b", "op": "delete"}], idempotency_key="2"
    ).duplicate
    assert mock_platform.records_received == {CODE: 5}
    assert mock_platform.latest(CODE) == {"a": {"id": "a", "v": 2}}
    assert mock_platform.applications(CODE, "a") == 2
    assert mock_platform.applications(CODE, "b") == 2
    assert mock_platform.idempotency_keys == 2
    assert mock_platform.duplicates_refused == 1
    assert len(mock_platform.records(CODE)) == 5


def test_intake_cases_per_node(mock_platform: MockPlatform) -> None:
    mine = mock_platform.enqueue_case({"applicant": "李四"}, matter_code="M1")
    mock_platform.enqueue_case(node="99/other")
    client = client_for(mock_platform)
    assert client.pull_cases() == [mine]
    client.ack_case(mine["case_id"])
    client.ack_case(mine["case_id"])
    assert client.pull_cases() == []
    assert mock_platform.acknowledged_cases == {mine["case_id"]}
    client.post_status(mine["case_id"], "accepted", idempotency_key="s1")
    client.post_status(mine["case_id"], "accepted", idempotency_key="s1")
    client.post_status(mine["case_id"], "completed", result={"licence": "L"})
    assert [s["status"] for s in mock_platform.case_statuses[mine["case_id"]]] == [
        "accepted",
        "completed",
    ]
    with pytest.raises(ValueError, match="already exists"):
        mock_platform.enqueue_case(case_id=mine["case_id"])


def test_error_fault_applies_nothing(mock_platform: MockPlatform) -> None:
    client = registered(mock_platform)
    mock_platform.set_faults(error_rate=1.0)
    with pytest.raises(RetryableError) as caught:
        client.publish(CODE, [{"id": 1}], idempotency_key="k")
    assert caught.value.status == 500
    assert mock_platform.records_received == {} and mock_platform.idempotency_keys == 0
    assert mock_platform.faults_injected == {"error": 1}


def test_throttle_fault_sends_retry_after(mock_platform: MockPlatform) -> None:
    client = registered(mock_platform)
    mock_platform.set_faults(throttle_rate=1.0, retry_after=2)
    with pytest.raises(RetryableError) as caught:
        client.publish(CODE, [{"id": 1}], idempotency_key="k")
    assert (caught.value.status, caught.value.retry_after) == (429, 2.0)
    assert mock_platform.records_received == {}


def test_reset_fault_drops_the_connection_before_applying(mock_platform: MockPlatform) -> None:
    client = registered(mock_platform)
    mock_platform.set_faults(reset_rate=1.0)
    with pytest.raises(RetryableError) as caught:
        client.publish(CODE, [{"id": 1}], idempotency_key="k")
    assert isinstance(caught.value.__cause__, httpx.TransportError)
    assert mock_platform.records_received == {}


def test_lost_response_applies_then_drops_and_the_key_saves_the_retry(
    mock_platform: MockPlatform,
) -> None:
    client = registered(mock_platform)
    mock_platform.set_faults(lost_response_rate=1.0)
    with pytest.raises(RetryableError):
        client.publish(CODE, [{"id": 1}], idempotency_key="k")
    assert mock_platform.records_received == {CODE: 1}
    with pytest.raises(RetryableError):
        client.pull_cases()  # a read cannot be "applied": it is simply reset
    mock_platform.set_faults("none")
    assert client.publish(CODE, [{"id": 1}], idempotency_key="k").duplicate
    assert mock_platform.records_received == {CODE: 1}


def test_outage_answers_503_until_it_ends(mock_platform: MockPlatform) -> None:
    client = registered(mock_platform)
    mock_platform.outage(0.3)
    with pytest.raises(RetryableError) as caught:
        client.list_resources()
    assert caught.value.status == 503 and 0 < caught.value.retry_after <= 0.3
    time.sleep(0.35)
    assert client.list_resources()
    mock_platform.outage(60)
    mock_platform.end_outage()
    assert client.list_resources()


def test_outage_is_ridden_out_by_retries_honouring_retry_after(mock_platform: MockPlatform) -> None:
    client = registered(mock_platform)
    client.retry = RetryPolicy(max_attempts=10, deadline=5)
    mock_platform.outage(0.2)
    assert client.list_resources()
    assert mock_platform.faults_injected["outage"] >= 1


def test_latency_is_added(mock_platform: MockPlatform) -> None:
    client = registered(mock_platform)
    mock_platform.set_faults(latency=0.2)
    started = time.monotonic()
    client.list_resources()
    assert time.monotonic() - started >= 0.2


def test_same_seed_same_faults() -> None:
    def run(seed: int) -> list[str]:
        outcomes = []
        with MockPlatform(faults="hostile", seed=seed) as platform:
            client = registered_quietly(platform)
            for _ in range(40):
                try:
                    client.pull_cases()
                    outcomes.append("ok")
                except RetryableError as exc:
                    outcomes.append(str(exc.status))
        return outcomes

    assert run(11) == run(11)
    assert run(11) != run(12)


def registered_quietly(platform: MockPlatform) -> ExchangeClient:
    return client_for(platform)


def test_fault_profiles() -> None:
    assert Faults.profile("none") == Faults()
    hostile = Faults.profile("hostile")
    assert hostile.lost_response_rate > 0 and hostile.reset_rate > 0
    assert Faults.profile("flaky").error_rate < hostile.error_rate
    with pytest.raises(ValueError, match="unknown fault profile"):
        Faults.profile("apocalyptic")


def test_wrong_token_is_401(mock_platform: MockPlatform) -> None:
    client = ExchangeClient(
        mock_platform.url, token="wrong", node=DEFAULT_NODE, user_id="u", retry=None
    )
    with pytest.raises(PlatformRejectedError) as caught:
        client.list_resources()
    assert caught.value.status == 401
    assert caught.value.problems[0].field == f"header:{P.HEADER_AUTHORIZATION}"


def raw_client(platform: MockPlatform) -> httpx.Client:
    """Plain HTTP with the required headers, to send what ``ExchangeClient`` never would."""
    headers = {
        P.HEADER_AUTHORIZATION: f"Bearer {platform.token}",
        P.HEADER_NODE: DEFAULT_NODE,
        P.HEADER_MESSAGE_ID: "m1",
        P.HEADER_USER_ID: "u1",
        P.HEADER_IDEMPOTENCY_KEY: "k1",
    }
    return httpx.Client(base_url=platform.url, headers=headers, timeout=5)


@pytest.mark.parametrize(
    ("method", "path", "what"),
    [
        ("PUT", P.resource_path(CODE), "a resource"),
        ("POST", P.PATH_RECORDS, "a batch"),
        ("POST", P.case_status_path("CASE-1"), "a status change"),
    ],
)
def test_a_body_that_is_not_an_object_is_422(
    mock_platform: MockPlatform, method: str, path: str, what: str
) -> None:
    with raw_client(mock_platform) as http:
        response = http.request(method, path, content=b"[1, 2]")
    assert response.status_code == 422
    assert response.json()["message"] == f"{what} is a JSON object"
    assert response.json()["problems"] == [{"field": "body", "rule": "type", "message": "object"}]


@pytest.mark.parametrize("version", ["abc", "0", "-1", ""])
def test_get_resource_with_a_bad_version_is_400(mock_platform: MockPlatform, version: str) -> None:
    registered(mock_platform)
    with raw_client(mock_platform) as http:
        response = http.get(P.resource_path(CODE), params={"version": version})
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "version"
    with raw_client(mock_platform) as http:
        assert http.get(P.resource_path(CODE), params={"version": "1"}).json()["version"] == 1
        assert http.get(P.resource_path(CODE), params={"version": "2"}).status_code == 404


def test_url_before_start_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = MockPlatform().url


def test_after_stop_url_is_an_error_and_start_serves_again() -> None:
    platform = MockPlatform(seed=0).start()
    platform.stop()
    with pytest.raises(RuntimeError, match="not running"):
        _ = platform.url
    with platform:
        assert client_for(platform).list_resources() == []


@pytest.mark.parametrize(
    "changes",
    [{"error_rate": 5}, {"reset_rate": -0.1}, {"latency": -1}, {"retry_after": float("nan")}],
)
def test_faults_out_of_range_are_refused(changes: dict[str, float]) -> None:
    name = next(iter(changes))
    with pytest.raises(ValueError, match=name):
        Faults(**changes)
    with MockPlatform() as platform, pytest.raises(ValueError, match=name):
        platform.set_faults(**changes)
    assert Faults(error_rate=1.0, latency=0.0).error_rate == 1.0


def test_cli_prints_url_and_token_and_serves() -> None:
    args = ["--port", "0", "--faults", "flaky", "--seed", "1", "--token", "tok-1", "--cases", "2"]
    with mock_platform_cli(*args) as (url, printed):
        assert "tok-1" in printed[0]
        client = ExchangeClient(
            url,
            token="tok-1",
            node=DEFAULT_NODE,
            user_id="u",
            retry=RetryPolicy(max_attempts=20, initial=0.01, max_retry_after=0.01),
        )
        assert len(client.pull_cases()) == 2
        client.close()


@pytest.mark.parametrize(
    ("args", "named"),
    [(["--faults", "nope"], "--faults"), (["--retry-after", "-1"], "--retry-after")],
)
def test_cli_refuses_bad_settings_naming_them(args: list[str], named: str) -> None:
    import typer
    from typer.testing import CliRunner

    from govconnect.cli import mock_platform

    app = typer.Typer()

    @app.callback()
    def root() -> None: ...

    mock_platform.register(app)
    result = CliRunner().invoke(app, ["mock-platform", *args], env={"COLUMNS": "200"})
    assert result.exit_code == 2 and named in result.output, result.output


def test_a_busy_port_is_an_error(mock_platform: MockPlatform) -> None:
    port = int(mock_platform.url.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        MockPlatform(port=port).start()


def test_reset_without_our_protocol_falls_back_to_a_500() -> None:
    """Served by another ASGI server (no transport in the scope), a reset degrades to a 500."""
    import asyncio

    from govconnect.testing._mock_app import PlatformState, create_app

    state = PlatformState(token="t", faults=Faults(reset_rate=1.0), seed=1)

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
            return await client.get(P.PATH_CASES)

    response = asyncio.run(get())
    assert response.status_code == 500
    assert response.json()["error"] == "internal"
