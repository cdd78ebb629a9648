"""Back to the source: cross-check conflicts sent to the platform as correction notices, through
the outbox, exactly once (on the SQLite and the PostgreSQL outbox, with platform faults)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator

from govconnect import ExchangeClient, Outbox, PlatformRejectedError, RetryPolicy, load_registry
from govconnect.crosscheck import CrosscheckReport, correction_notices, crosscheck, send_corrections
from govconnect.exchange import platform as P
from govconnect.exchange.delivery.worker import DeliveryWorker
from govconnect.gateway.audit import AuditLog
from govconnect.testing import MockPlatform
from govconnect.testing._databases import database_url

from . import crosscheck_support
from .cli_support import govconnect
from .crosscheck_support import citizen_id, plant
from .test_crosscheck import _plugin_on_path, _write_config
from .test_platform_contract import REGISTRY, SPEC_URI, CheckingTransport, ContractChecker

REGISTER = "xc_register.people"
CODES = {"xc_civil.people": "111112001/9002", "xc_social.people": "111112001/9003"}
DEPARTMENTS = {"111112001/9002": "11010500001", "111112001/9003": "11010500002"}
FAST = RetryPolicy(max_attempts=200, deadline=120, initial=0.005, max_wait=0.05, jitter=0.005)
NODE = "11010599999/governance"


def _tables(tmp_path: Path, n: int = 60) -> tuple[dict[str, Any], dict[tuple[str, str], set[str]]]:
    url = database_url("sqlite", tmp_path)
    engine = sa.create_engine(url)
    plants = plant(engine, {"register": "r", "civil": "c", "social": "s"}, n)
    # a person the register does not know, whose name civil and social disagree on: a conflict
    # with no authoritative side, reported but never sent
    stranger = citizen_id(9999)[0]
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO c VALUES (:k, '王五', '1990-01-01', '某地', '1')"), {"k": stranger}
        )
        conn.execute(sa.text("INSERT INTO s VALUES (:k, '王六')"), {"k": stranger})
    engine.dispose()
    tables = {"xc_register": "r", "xc_civil": "c", "xc_social": "s"}
    return {"connectors": {n: {"url": url, "table": t} for n, t in tables.items()}}, plants


def _report(config: dict[str, Any]) -> CrosscheckReport:
    reg = load_registry(plugins=[crosscheck_support], entry_points=False, config=config)
    return crosscheck(reg, key="citizen_id")


def _expected(plants: dict[tuple[str, str], set[str]]) -> set[tuple[str, str, str]]:
    """(key, element, disputed resource) of every notice the plants must give."""
    return {
        (key, element, CODES[source])
        for (key, element), sources in plants.items()
        for source in sources - {REGISTER}
    }


def _client(platform: MockPlatform, **kw: Any) -> ExchangeClient:
    return ExchangeClient(platform.url, token=platform.token, node=NODE, user_id="officer", **kw)


def _received(platform: MockPlatform) -> set[tuple[str, str, str]]:
    return {
        (n["key"], n["element"], n["disputed"]["resource_code"]) for n in platform.corrections()
    }


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_planted_conflicts_reach_the_platform_exactly_once(tmp_path: Path, engine: str) -> None:
    from .outbox_support import outbox_location

    config, plants = _tables(tmp_path)
    report = _report(config)
    expected = _expected(plants)
    with (
        outbox_location(engine, tmp_path) as location,
        Outbox(location) as outbox,
        MockPlatform(seed=3) as platform,
        _client(platform) as client,
    ):
        sent = send_corrections(report, outbox, user_id="officer")
        assert (sent.notices, sent.queued, sent.already) == (len(expected), len(expected), 0)
        assert sent.unaddressed == 1
        DeliveryWorker(outbox, client, policy=FAST).drain(timeout=60)
        assert _received(platform) == expected
        assert platform.corrections_accepted == len(expected)
        for notice in platform.corrections():
            assert notice["authoritative"]["resource_code"] == "111112001/9001"
            assert notice["authoritative"]["department_code"] == "11010500000"
            code = notice["disputed"]["resource_code"]
            assert notice["disputed"]["department_code"] == DEPARTMENTS[code]
        assert {n["notice_id"] for n in platform.corrections("11010500002")} <= {
            n["notice_id"] for n in platform.corrections()
        }

        again = send_corrections(_report(config), outbox, user_id="officer")  # a second run
        assert (again.queued, again.already, again.dead) == (0, len(expected), 0)
        assert outbox.pending() == 0
        outbox.purge(delivered_before=outbox.clock() + 1)  # the delivery log forgotten...
        later = datetime(2030, 1, 1, tzinfo=UTC)  # found again later: same ids
        resent = send_corrections(report, outbox, user_id="officer", detected_at=later)
        assert (resent.queued, resent.already) == (0, len(expected))  # ...the notices are not
        assert outbox.pending() == 0
        (tmp_path / "lost").mkdir()  # the outbox itself lost: the platform is the second guard
        with outbox_location(engine, tmp_path / "lost") as other, Outbox(other) as elsewhere:
            assert send_corrections(report, elsewhere, detected_at=later).queued == len(expected)
            stats = DeliveryWorker(elsewhere, client, policy=FAST).drain(timeout=60)
        assert stats.duplicates == len(expected)
        assert platform.corrections_accepted == len(expected)


def test_platform_faults_are_retried_and_still_exactly_once(tmp_path: Path) -> None:
    config, plants = _tables(tmp_path, n=80)
    expected = _expected(plants)
    faults = {"error_rate": 0.2, "throttle_rate": 0.1, "reset_rate": 0.1, "lost_response_rate": 0.2}
    with (
        Outbox(tmp_path / "outbox.sqlite") as outbox,
        MockPlatform(seed=11) as platform,
        _client(platform, retry=None) as client,
    ):
        platform.set_faults("none", retry_after=0.01, **faults)
        send_corrections(_report(config), outbox)
        stats = DeliveryWorker(outbox, client, policy=FAST).drain(timeout=60)
        assert stats.retries > 0 and stats.dead_lettered == 0
        assert sum(platform.faults_injected.values()) > 0
        assert _received(platform) == expected
        assert platform.corrections_accepted == len(expected)


def test_notices_only_for_conflicts_with_an_authoritative_side(tmp_path: Path) -> None:
    config, plants = _tables(tmp_path, n=30)
    report = _report(config)
    stranger = citizen_id(9999)[0]
    unowned = [c for c in report.conflicts if c.authoritative is None]
    assert [(c.key, c.element) for c in unowned] == [(stranger, "姓名")]
    notices = list(correction_notices(report))
    assert stranger not in {n["key"] for n in notices}
    assert {(n["key"], n["element"], n["disputed"]["resource_code"]) for n in notices} == (
        _expected(plants)
    )
    # only the two values of the notice, never a third source's
    for n in notices:
        conflict = next(
            c for c in report.conflicts if (c.key, c.element) == (n["key"], n["element"])
        )
        disputed = next(s for s, code in CODES.items() if code == n["disputed"]["resource_code"])
        assert n["authoritative"]["value"] == conflict.values[REGISTER]
        assert n["disputed"]["value"] == conflict.values[disputed]
    # stable ids: the same dispute found again has the same id, whatever the time
    again = {n["notice_id"] for n in correction_notices(_report(config))}
    assert again == {n["notice_id"] for n in notices} and len(again) == len(notices)
    validator = Draft202012Validator(
        {"$ref": f"{SPEC_URI}#/components/schemas/CorrectionNotice"}, registry=REGISTRY
    )
    for n in notices:
        assert list(validator.iter_errors(n)) == []


def test_client_and_mock_follow_the_document_and_refuse_bad_notices(tmp_path: Path) -> None:
    config, _ = _tables(tmp_path, n=20)
    notice = next(correction_notices(_report(config)))
    checker = ContractChecker()
    with (
        MockPlatform(seed=1) as platform,
        _client(platform, transport=CheckingTransport(checker), retry=None) as client,
    ):
        first = client.post_correction(notice, idempotency_key=notice["notice_id"])
        assert first == {
            "notice_id": notice["notice_id"],
            "duplicate": False,
            "addressed_to": notice["disputed"]["department_code"],
        }
        assert client.post_correction(notice, idempotency_key=notice["notice_id"])["duplicate"]
        later = {**notice, "detected_at": "2027-01-01T00:00:00+00:00"}  # same id, another key
        assert client.post_correction(later, idempotency_key="another")["duplicate"]
        assert client.post_correction(later, idempotency_key=notice["notice_id"])["duplicate"]
        other = {**notice, "notice_id": "f" * 32}
        with pytest.raises(PlatformRejectedError) as reused:
            client.post_correction(other, idempotency_key=notice["notice_id"])
        assert reused.value.status == 422
        assert checker.violations == []  # the bodies below break the document on purpose
        broken = {**notice, "key_type": "passport", "disputed": {**notice["disputed"]}}
        broken["disputed"]["resource_code"] = notice["authoritative"]["resource_code"]
        del broken["element"]
        with pytest.raises(PlatformRejectedError) as refused:
            client.post_correction(broken, idempotency_key="k-broken")
        fields = {(p.field, p.rule) for p in refused.value.problems}
        assert fields == {
            ("key_type", "enum"),
            ("element", "required"),
            ("disputed.resource_code", "distinct"),
        }
        long = {**notice, "authoritative": {**notice["authoritative"], "value": "x" * 1001}}
        with pytest.raises(PlatformRejectedError) as too_long:
            client.post_correction(long, idempotency_key="k-long")
        assert [p.field for p in too_long.value.problems] == ["authoritative.value"]
        assert platform.corrections_accepted == 1
        raw = httpx.post(
            platform.url + P.PATH_CORRECTIONS,
            content=json.dumps(notice),
            headers={
                P.HEADER_AUTHORIZATION: f"Bearer {platform.token}",
                P.HEADER_NODE: NODE,
                P.HEADER_MESSAGE_ID: "m",
                P.HEADER_USER_ID: "u",
            },
        )
        assert raw.status_code == 400
        assert raw.json()["problems"][0]["field"] == f"header:{P.HEADER_IDEMPOTENCY_KEY}"
        inspected = httpx.get(
            f"{platform.url}/_mock/inspect/corrections",
            headers={P.HEADER_AUTHORIZATION: f"Bearer {platform.token}"},
        ).json()
        assert [n["notice_id"] for n in inspected["corrections"]] == [notice["notice_id"]]
        assert platform.inspect()["corrections"]["accepted"] == 1


def test_cli_notify_sends_once_keeps_the_report_masked_and_audits(tmp_path: Path) -> None:
    config, plants = _tables(tmp_path, n=40)
    _write_config(tmp_path, config)
    expected = _expected(plants)
    with MockPlatform(seed=2, node=NODE) as platform:
        env = {
            **_plugin_on_path(tmp_path),
            "GOVCONNECT_PLATFORM_URL": platform.url,
            "GOVCONNECT_PLATFORM_TOKEN": platform.token,
            "GOVCONNECT_NODE": NODE,
        }
        args = ("crosscheck", "--notify", "--deliver", "--outbox", "o.sqlite")
        with Outbox(tmp_path / "o.sqlite") as shared:  # a shared outbox: a publish batch too
            shared.enqueue("111112001/9001", [{"id": "1"}])
        ran = govconnect(*args, "--json", cwd=tmp_path, env=env)
        assert ran.code == 3, ran.output
        doc = json.loads(ran.out)
        assert list(doc)[-1] == "conflicts"
        assert doc["corrections"] == {
            "notices": len(expected),
            "queued": len(expected),
            "already_queued": 0,
            "already_dead": 0,
            "unaddressed": 1,
            "delivered": len(expected),  # the notices only: not the other batch drained
            "dead": 0,
            "other_delivered": 0,
            "other_dead": 1,  # the publish batch: its resource is not in the mock's catalog
        }
        assert _received(platform) == expected
        for key, _, _ in expected:
            assert key not in ran.output  # the report stays masked; the notice carries the key
        ran = govconnect(*args, cwd=tmp_path, env=env)
        assert ran.code == 3, ran.output
        assert f"correction notices: 0 queued, {len(expected)} already queued earlier, 0 " in (
            ran.out
        )
        assert "1 conflict(s)" in ran.out and "outbox retry" not in ran.out
        assert platform.corrections_accepted == len(expected)
        with AuditLog(tmp_path / "state" / "audit.sqlite") as audit:
            outcomes = [r.outcome for r in audit.records()]
        assert outcomes == ["notified", "notified"]


def test_deliver_without_notify_or_platform_is_a_usage_error() -> None:
    from typer.testing import CliRunner

    from govconnect.cli import build

    app, runner = build(), CliRunner()
    alone = runner.invoke(app, ["crosscheck", "--deliver"])
    assert alone.exit_code == 2 and "--notify" in alone.output
    bare = runner.invoke(app, ["crosscheck", "--notify", "--deliver"], env={"GOVCONNECT_NODE": ""})
    assert bare.exit_code == 2 and "--url" in bare.output


def test_a_refused_notice_is_a_dead_letter_and_not_queued_again(tmp_path: Path) -> None:
    config, plants = _tables(tmp_path, n=20)
    report = _report(config)
    with (
        Outbox(tmp_path / "outbox.sqlite") as outbox,
        MockPlatform(seed=4) as platform,
        ExchangeClient(platform.url, token="not-the-token", node=NODE, user_id="u") as client,
    ):
        sent = send_corrections(report, outbox)
        stats = DeliveryWorker(outbox, client, policy=FAST).drain(timeout=30)
        assert stats.dead_lettered == sent.queued == len(_expected(plants))  # 401: not retried
        assert platform.corrections_accepted == 0
        assert {d.operation for d in outbox.dead_letters()} == {"correction"}
        again = send_corrections(report, outbox)  # replay is the operator's call, not a rerun's
        assert (again.queued, again.already, again.dead) == (0, 0, sent.notices)
        assert outbox.replay() == sent.notices  # replayed: waiting again, no longer dead
        replayed = send_corrections(report, outbox)
        assert (replayed.queued, replayed.already, replayed.dead) == (0, sent.notices, 0)


def test_the_mock_keeps_a_bounded_number_of_notices(tmp_path: Path) -> None:
    config, _ = _tables(tmp_path, n=40)
    notices = list(correction_notices(_report(config)))[:3]
    with MockPlatform(history=2) as platform, _client(platform) as client:
        for n in notices:
            client.post_correction(n, idempotency_key=n["notice_id"])
        assert platform.corrections_accepted == 3
        assert [n["notice_id"] for n in platform.corrections()] == [
            n["notice_id"] for n in notices[1:]
        ]


def test_cli_counts_refused_notices_as_dead_and_points_to_retry(tmp_path: Path) -> None:
    config, plants = _tables(tmp_path, n=20)
    _write_config(tmp_path, config)
    n = len(_expected(plants))
    with MockPlatform(seed=5, node=NODE) as platform:
        env = {
            **_plugin_on_path(tmp_path),
            "GOVCONNECT_PLATFORM_URL": platform.url,
            "GOVCONNECT_PLATFORM_TOKEN": "not-the-token",  # 401: every notice a dead letter
            "GOVCONNECT_NODE": NODE,
        }
        args = ("crosscheck", "--notify", "--outbox", "o.sqlite")
        ran = govconnect(*args, "--deliver", cwd=tmp_path, env=env)
        assert ran.code == 3, ran.output
        assert f"; 0 delivered, {n} dead letters; see `govconnect outbox dead`" in ran.out
        ran = govconnect(*args, "--json", cwd=tmp_path, env=env)  # a rerun: dead, not queued
        assert ran.code == 3, ran.output
        summary = json.loads(ran.out)["corrections"]
        assert (summary["queued"], summary["already_queued"], summary["already_dead"]) == (0, 0, n)
        ran = govconnect(*args, cwd=tmp_path, env=env)
        assert f"0 queued, 0 already queued earlier, {n} refused earlier (dead letters)" in ran.out
        assert "resend with `govconnect outbox retry ID…|--all`" in ran.out
        retried = govconnect("outbox", "retry", "--all", "--outbox", "o.sqlite", cwd=tmp_path)
        assert f"replayed {n} dead letter(s)" in retried.out, retried.output


def test_a_key_held_twice_keeps_its_notice_ids_whatever_order_the_rows_come_in(
    tmp_path: Path,
) -> None:
    """Civil holds one person twice, the copies disagreeing with each other; a source without
    ORDER BY may return either first. The same dispute must keep its notice id."""
    config, _ = _tables(tmp_path, n=20)
    engine = sa.create_engine(config["connectors"]["xc_civil"]["url"])
    twice = citizen_id(5)[0]  # agrees with the register (5 is no planted kind)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM c"))]
    twin = {**next(r for r in rows if r["citizen_id"] == twice), "name": "钱某某"}
    seen = []
    for order in ([*rows, twin], [twin, *rows]):
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM c"))
            conn.execute(
                sa.text("INSERT INTO c VALUES (:citizen_id, :name, :born, :address, :gender)"),
                order,
            )
        with _report(config) as report:
            assert report.duplicates["xc_civil.people"] == 2  # plant()'s own, and this one
            seen.append({n["notice_id"]: n["key"] for n in correction_notices(report)})
    engine.dispose()
    assert seen[0] == seen[1]


def test_the_mock_refuses_an_idempotency_key_over_200_characters(tmp_path: Path) -> None:
    config, _ = _tables(tmp_path, n=20)
    notice = next(correction_notices(_report(config)))
    headers = {
        P.HEADER_AUTHORIZATION: "",
        P.HEADER_NODE: NODE,
        P.HEADER_MESSAGE_ID: "m",
        P.HEADER_USER_ID: "u",
    }
    with MockPlatform(seed=6) as platform:
        headers[P.HEADER_AUTHORIZATION] = f"Bearer {platform.token}"

        def post(key: str) -> httpx.Response:
            sent = {**headers, P.HEADER_IDEMPOTENCY_KEY: key}
            return httpx.post(platform.url + P.PATH_CORRECTIONS, json=notice, headers=sent)

        too_long = post("k" * 201)
        assert too_long.status_code == 400
        [problem] = too_long.json()["problems"]
        assert (problem["field"], problem["rule"]) == (
            f"header:{P.HEADER_IDEMPOTENCY_KEY}",
            "max_length",
        )
        assert platform.corrections_accepted == 0
        assert post("k" * 200).status_code == 200  # the longest the contract allows
        assert platform.corrections_accepted == 1


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_an_outbox_of_the_previous_schema_learns_the_notices_it_holds(
    tmp_path: Path, engine: str
) -> None:
    """An outbox from before ``outbox_notices`` holding a notice waiting, one delivered and one
    dead: opened, it remembers all three (none queued again) and stays at the new schema."""
    from govconnect.exchange.outbox.pg_schema import SCHEMA_VERSION
    from govconnect.exchange.outbox.portable import execute

    from .outbox_support import outbox_location

    notice = [(f"{i:032x}", "111112001/9002", b'{"n":%d}' % i) for i in range(4)]
    with outbox_location(engine, tmp_path) as location:
        with Outbox(location) as box:
            assert box.enqueue_corrections(notice[:3]) == [n for n, _, _ in notice[:3]]
            box.mark_delivered(box.claim("w"))
            box.bury(box.claim("w"), "rejected (422)")

            def downgrade(conn: Any) -> None:
                execute(conn, "DROP TABLE outbox_notices")
                if not box.is_file:  # the PostgreSQL schema records its version
                    execute(conn, "DROP INDEX outbox_dead_by_key")
                    execute(conn, "UPDATE outbox_meta SET value = '1' WHERE key = 'schema_version'")

            box.write_state(downgrade)
        for _ in range(2):  # the second open finds nothing to migrate
            with Outbox(location) as box:
                assert box.read("SELECT count(*) FROM outbox_notices") == [(3,)]
                assert box.dead_notices([n for n, _, _ in notice]) == {notice[1][0]}
                if not box.is_file:
                    version = box.read("SELECT value FROM outbox_meta WHERE key = 'schema_version'")
                    assert version == [(SCHEMA_VERSION,)]
        with Outbox(location) as box:
            assert box.enqueue_corrections(notice) == [notice[3][0]]
            assert box.pending() == 2
