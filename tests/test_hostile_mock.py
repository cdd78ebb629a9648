"""The mock platform under long soaks, borrowed tokens and out-of-process inspection (issue 13).

Before: the mock kept every record it ever received (7 GB after 2.8M records), any node could use
any token and so read another node's cases, and a test in another process had no way to count what
arrived at a ``govconnect mock-platform`` server.
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from govconnect import ExchangeClient, PlatformRejectedError, RetryPolicy
from govconnect.exchange import platform as P
from govconnect.testing import DEFAULT_NODE, MockPlatform
from tests.hostile_support import mock_platform_cli

CODE = "111112001/2001"
OTHER = "11010000000/other"


def client(
    platform: MockPlatform, node: str = DEFAULT_NODE, token: str | None = None
) -> ExchangeClient:
    return ExchangeClient(
        platform.url, token=token or platform.token, node=node, user_id="u", retry=None
    )


def register(c: ExchangeClient, code: str = CODE) -> None:
    c.put_resource({"code": code, "version": 1, "name": "residents"})


def test_memory_stays_bounded_over_a_long_soak(mock_platform: MockPlatform) -> None:
    """200k records over 1,000 ids: what the mock retains depends on the ids, not the records."""
    with client(mock_platform) as c:
        register(c)
        batch = b",".join(orjson.dumps({"id": i % 1000, "n": i}) for i in range(5000))
        for n in range(40):
            c.publish_joined(CODE, batch, idempotency_key=f"k{n}")
    assert mock_platform.records_received == {CODE: 200_000}
    assert len(mock_platform.latest(CODE)) == 1000
    assert set(mock_platform.application_counts(CODE).values()) == {200}
    assert len(mock_platform.records(CODE)) == 1000  # the most recent, not all 200,000
    assert mock_platform.records(CODE)[-1] == {"id": 999, "n": 4999}
    # 1,000 latest + 1,000 counters + 1,000 recent + 40 keys + 1 catalog-free case list
    assert mock_platform.retained_entries <= 3100


def test_history_can_be_turned_down(mock_platform_factory: object) -> None:
    platform = mock_platform_factory(history=0)  # type: ignore[operator]
    with client(platform) as c:
        register(c)
        c.publish(CODE, [{"id": 1}, {"id": 2}], idempotency_key="k")
    assert platform.records(CODE) == [] and platform.applications(CODE, 1) == 1


def test_a_token_reads_only_its_own_nodes_cases(mock_platform: MockPlatform) -> None:
    mine = mock_platform.enqueue_case(applicant="A")
    theirs = mock_platform.enqueue_case(node=OTHER, applicant="B")
    with client(mock_platform) as c:
        assert [x["case_id"] for x in c.pull_cases()] == [mine["case_id"]]  # binds the token
    with client(mock_platform, node=OTHER) as borrowed:
        with pytest.raises(PlatformRejectedError) as caught:
            borrowed.pull_cases()
        assert caught.value.status == 401
        assert caught.value.problems[0].field == f"header:{P.HEADER_NODE}"
        with pytest.raises(PlatformRejectedError):
            borrowed.ack_case(theirs["case_id"])
    with client(mock_platform, node=OTHER, token=mock_platform.token_for(OTHER)) as c:
        assert [x["case_id"] for x in c.pull_cases()] == [theirs["case_id"]]
    assert mock_platform.token_for(DEFAULT_NODE) == mock_platform.token
    assert mock_platform.acknowledged_cases == set()


def test_a_token_given_a_node_at_start_is_bound_before_first_use(
    mock_platform_factory: object,
) -> None:
    platform = mock_platform_factory(node=OTHER)  # type: ignore[operator]
    platform.enqueue_case(node=DEFAULT_NODE)
    with client(platform) as c, pytest.raises(PlatformRejectedError, match="not issued"):
        c.pull_cases()


def test_record_ids_of_the_wrong_type_are_refused_not_a_500(mock_platform: MockPlatform) -> None:
    with client(mock_platform) as c:
        register(c)
        with pytest.raises(PlatformRejectedError) as caught:
            c.publish(CODE, [{"id": [1]}, {"id": {"a": 1}}, {"id": True}], idempotency_key="k")
    assert caught.value.status == 422
    assert [p.field for p in caught.value.problems] == [
        "records[0].id",
        "records[1].id",
        "records[2].id",
    ]


def test_idempotency_keys_longer_than_the_contract_allows_are_refused_not_stored(
    mock_platform: MockPlatform,
) -> None:
    """The mock keeps every key it accepts: a key over the contract's 200 characters is a 400
    naming the header on every write that takes one, and nothing is applied."""
    with client(mock_platform) as c:
        register(c)
        c.publish(CODE, [{"id": 1}], idempotency_key="k" * 200)  # the limit itself is fine
        with pytest.raises(PlatformRejectedError) as batch:
            c.publish(CODE, [{"id": 2}], idempotency_key="k" * 201)
        case_id = mock_platform.enqueue_case()["case_id"]
        with pytest.raises(PlatformRejectedError) as status:
            c.post_status(case_id, "accepted", idempotency_key="s" * 201)
    for refused in (batch.value, status.value):
        assert refused.status == 400
        assert [(p.field, p.rule) for p in refused.problems] == [
            (f"header:{P.HEADER_IDEMPOTENCY_KEY}", "max_length")
        ]
    assert mock_platform.records_received.get(CODE) == 1
    assert mock_platform.case_statuses.get(case_id, []) == []


def inspect(url: str, token: str, path: str = "/_mock/inspect") -> httpx.Response:
    return httpx.get(url + path, headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_the_inspect_endpoint_counts_what_arrived(mock_platform: MockPlatform) -> None:
    case = mock_platform.enqueue_case()
    with client(mock_platform) as c:
        register(c)
        c.publish(CODE, [{"id": 1}, {"id": 2}, {"id": 1, "op": "delete"}], idempotency_key="k")
        c.publish(CODE, [{"id": 1}, {"id": 2}, {"id": 1, "op": "delete"}], idempotency_key="k")
        c.ack_case(case["case_id"])
        c.post_status(case["case_id"], "accepted")
    mock_platform.set_faults(error_rate=1.0)  # the inspect endpoint injects no fault
    answer = inspect(mock_platform.url, mock_platform.token)
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen == mock_platform.inspect()
    assert seen["resources"][CODE] == {
        "records_applied": 3,
        "distinct_ids": 2,
        "live": 1,
        "applied_more_than_once": 1,
    }
    assert (seen["duplicates_refused"], seen["idempotency_keys"]) == (1, 1)
    assert seen["catalog"] == {CODE: 1}
    assert seen["cases"][case["case_id"]] == {
        "node": DEFAULT_NODE,
        "acknowledged": True,
        "statuses": [{"status": "accepted"}],
    }
    assert mock_platform.faults_injected == {}
    per_id = inspect(mock_platform.url, mock_platform.token, f"/_mock/inspect/resources/{CODE}")
    assert per_id.json()["records"] == [
        {"id": 1, "applications": 2, "latest": None},
        {"id": 2, "applications": 1, "latest": {"id": 2}},
    ]
    missing = inspect(mock_platform.url, mock_platform.token, "/_mock/inspect/resources/9/9")
    assert missing.status_code == 404


def test_the_inspect_endpoint_takes_only_the_platforms_token(mock_platform: MockPlatform) -> None:
    assert inspect(mock_platform.url, "wrong").status_code == 401
    assert inspect(mock_platform.url, mock_platform.token_for(OTHER)).status_code == 401
    minted = httpx.post(
        mock_platform.url + "/_mock/tokens",
        headers={"Authorization": f"Bearer {mock_platform.token}"},
        json={"node": OTHER},
    )
    assert minted.json() == {"node": OTHER, "token": mock_platform.token_for(OTHER)}
    refused = httpx.post(
        mock_platform.url + "/_mock/tokens",
        headers={"Authorization": f"Bearer {mock_platform.token}"},
        content=b"[1]",
    )
    assert refused.status_code == 422


def test_the_cli_server_can_be_inspected_from_another_process() -> None:
    args = ["--port", "0", "--token", "tok-1", "--cases", "2", "--node", OTHER]
    with mock_platform_cli(*args) as (url, printed):
        assert f"node {OTHER}" in printed[0]
        seen = inspect(url, "tok-1").json()
        assert {c["node"] for c in seen["cases"].values()} == {OTHER}
        with (
            ExchangeClient(
                url,
                token="tok-1",
                node=DEFAULT_NODE,
                user_id="u",
                retry=RetryPolicy(max_attempts=1),
            ) as wrong_node,
            pytest.raises(PlatformRejectedError),
        ):
            wrong_node.pull_cases()
