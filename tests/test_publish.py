"""Dataset publishing: full and incremental, change detection with deletes, rejects, threshold,
no duplicates at the platform — against a real mock platform and real databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from govconnect_household import create_sample_database

from govconnect import (
    Connector,
    DeliveryWorker,
    Department,
    ExchangeClient,
    LegacySystem,
    Level,
    Outbox,
    PublishAbortedError,
    Publisher,
    Record,
    ServiceDefinitionError,
    dataset,
    field,
    hookimpl,
    load_registry,
)
from govconnect.testing import MockPlatform
from govconnect.testing._databases import unique_name
from tests.outbox_support import ENGINES, outbox_location

RESIDENTS = "111112001/0002"
NODE = "11010500000/HJGL"


class Env:
    def __init__(
        self,
        tmp: Path,
        url: str,
        table: str = "hj_resident",
        plugins: list[Any] | None = None,
        outbox: str | None = None,
    ) -> None:
        self.url, self.table = url, table
        config = {"connectors": {"household": {"url": url, "table": table}}}
        self.registry = load_registry(config=config, plugins=plugins or [])
        self.outbox = Outbox(outbox or tmp / "outbox.sqlite")
        self.publisher = Publisher(
            self.registry, self.outbox, batch_size=100, rejects_dir=tmp / "rejects"
        )

    def deliver(self, platform: MockPlatform) -> None:
        with ExchangeClient(platform.url, token=platform.token, node=NODE, user_id="t") as client:
            client.sync_catalog(
                r.model_dump(mode="json") for r in self.registry.catalog().resources
            )
            DeliveryWorker(self.outbox, client, sleep=lambda s: None).drain(timeout=60)

    def legacy(self, sql: str, **params: Any) -> None:
        engine = sa.create_engine(self.url)
        with engine.begin() as conn:
            conn.execute(sa.text(sql.replace("{t}", self.table)), params)
        engine.dispose()

    def close(self) -> None:
        self.publisher.close()
        self.outbox.close()


@pytest.fixture(params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    """A household dataset publishing into an outbox (and its state) on each engine in turn."""
    url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    create_sample_database(url, count=500)
    with outbox_location(request.param, tmp_path) as location:
        e = Env(tmp_path, url, outbox=location)
        yield e
        e.close()


def test_full_then_incremental_sends_only_changes(env: Env, mock_platform: MockPlatform) -> None:
    first = env.publisher.publish(RESIDENTS)
    assert (first.mode, first.read, first.published, first.rejected) == ("incremental", 500, 500, 0)
    assert first.batches == 5 and first.bookmark_after is not None
    env.deliver(mock_platform)
    assert len(mock_platform.latest(RESIDENTS)) == 500

    later = datetime(2027, 1, 1, 9, 0)
    env.legacy(
        "UPDATE {t} SET xm = '改名', gxsj = :t WHERE gmsfhm IN (SELECT gmsfhm FROM {t} ORDER BY gmsfhm LIMIT 20)",
        t=later,
    )
    second = env.publisher.publish(RESIDENTS)
    assert (second.read, second.published) == (20, 20)
    assert second.bookmark_before == first.bookmark_after
    env.deliver(mock_platform)
    latest = mock_platform.latest(RESIDENTS)
    assert len(latest) == 500
    assert sum(1 for r in latest.values() if r["data"]["name"] == "改名") == 20
    assert env.publisher.publish(RESIDENTS).read == 0


def test_lookback_catches_rows_committed_late(env: Env) -> None:
    first = env.publisher.publish(RESIDENTS)
    bookmark = datetime.fromisoformat(first.bookmark_after)
    # a long legacy transaction commits a change stamped before the bookmark
    env.legacy(
        "UPDATE {t} SET xm = '迟到', gxsj = :t WHERE gmsfhm IN (SELECT gmsfhm FROM {t} ORDER BY gmsfhm LIMIT 1)",
        t=bookmark - timedelta(seconds=30),
    )
    assert env.publisher.publish(RESIDENTS).read == 0  # missed without a look-back window
    env.publisher.lookback = 60
    caught = env.publisher.publish(RESIDENTS)
    assert caught.read >= 1 and caught.published == caught.read
    with pytest.raises(Exception, match="lookback"):
        Publisher(env.registry, env.outbox, lookback=-1)


def test_full_republish_never_duplicates_at_the_platform(
    env: Env, mock_platform: MockPlatform
) -> None:
    env.publisher.publish(RESIDENTS)
    env.deliver(mock_platform)
    again = env.publisher.publish(RESIDENTS, full=True)
    assert (again.mode, again.published) == ("full", 500)
    env.deliver(mock_platform)
    latest = mock_platform.latest(RESIDENTS)
    assert len(latest) == 500  # one record per identity
    some = next(iter(latest))
    assert mock_platform.applications(RESIDENTS, some) == 2  # applied again, as an upsert


def test_bookmark_does_not_advance_when_the_outbox_write_fails(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = env.outbox.enqueue_encoded
    calls = {"n": 0}

    def fail_on_third(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(env.outbox, "enqueue_encoded", fail_on_third)
    with pytest.raises(OSError):
        env.publisher.publish(RESIDENTS)
    assert env.outbox.pending() == 200
    bookmark = env.publisher.state.bookmark(RESIDENTS)
    monkeypatch.setattr(env.outbox, "enqueue_encoded", real)
    resumed = env.publisher.publish(RESIDENTS)
    assert resumed.bookmark_before == bookmark
    assert resumed.read == 300 and env.outbox.pending() == 500


def test_bookmark_rolls_back_with_the_records(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import govconnect.publish.run as publish_module

    def broken_bookmark(resource: str, value: Any):
        def apply(conn: Any) -> None:
            raise RuntimeError("bookmark write failed")

        return apply

    monkeypatch.setattr(publish_module, "_set_bookmark", broken_bookmark)
    with pytest.raises(RuntimeError):
        env.publisher.publish(RESIDENTS)
    assert env.outbox.pending() == 0  # the batch's records rolled back with the failed bookmark


class Office(Record):
    code: str = field("机构代码", level=Level.PUBLIC, max_length=10)
    name: str = field("机构名称", level=Level.PUBLIC, max_length=50)


OFFICES: list[dict[str, Any]] = []


class Offices(Connector):
    name = "offices"
    department = Department(code="D1", name="部门")
    system = LegacySystem(code="S1", name="系统")

    @dataset(
        code="311112001/0001",
        name="办事机构",
        abstract="办事机构名录",
        sharing="unconditional",
        update_cycle="weekly",
        published="2026-01-01",
        key="code",
    )
    def offices(self) -> Iterator[Office]:
        yield from (dict(o) for o in OFFICES)


class OfficesPlugin:
    __name__ = "offices_plugin"

    @hookimpl
    def register_connectors(self) -> list[type[Connector]]:
        return [Offices]


def test_fingerprints_detect_inserts_updates_and_deletes(
    tmp_path: Path, mock_platform: MockPlatform, outbox_at: str
) -> None:
    OFFICES[:] = [{"code": f"O{i:03d}", "name": f"办事处{i}"} for i in range(250)]
    env = Env(
        tmp_path,
        f"sqlite:///{tmp_path / 'x.sqlite'}",
        plugins=[OfficesPlugin()],
        outbox=outbox_at,
    )
    try:
        first = env.publisher.publish("311112001/0001")
        assert (first.mode, first.published, first.unchanged, first.deleted) == (
            "fingerprint",
            250,
            0,
            0,
        )
        OFFICES[3]["name"] = "改名办事处"
        del OFFICES[10]
        OFFICES.append({"code": "O999", "name": "新办事处"})
        second = env.publisher.publish("311112001/0001")
        assert (second.published, second.unchanged, second.deleted) == (2, 248, 1)
        third = env.publisher.publish("311112001/0001")
        assert (third.published, third.deleted) == (0, 0)
        env.deliver(mock_platform)
        latest = mock_platform.latest("311112001/0001")
        assert len(latest) == 250 and "O010" not in latest
        assert latest["O003"]["data"]["name"] == "改名办事处"
    finally:
        env.close()


def test_a_dirty_row_is_not_mistaken_for_a_deleted_one(tmp_path: Path, outbox_at: str) -> None:
    OFFICES[:] = [{"code": f"O{i:03d}", "name": f"办事处{i}"} for i in range(20)]
    env = Env(
        tmp_path,
        f"sqlite:///{tmp_path / 'x.sqlite'}",
        plugins=[OfficesPlugin()],
        outbox=outbox_at,
    )
    try:
        env.publisher.publish("311112001/0001")
        OFFICES[5]["name"] = "名" * 60  # longer than max_length: rejected this time
        second = env.publisher.publish("311112001/0001")
        assert (second.rejected, second.deleted, second.published) == (1, 0, 0)
        OFFICES[5]["name"] = "修好了"
        third = env.publisher.publish("311112001/0001")
        assert (third.rejected, third.deleted, third.published) == (0, 0, 1)
    finally:
        env.close()


def test_bad_records_are_rejected_with_key_field_and_rule(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dirty.sqlite'}"
    create_sample_database(url, count=300, invalid=6)
    env = Env(tmp_path, url)
    try:
        report = env.publisher.publish(RESIDENTS)
        assert (report.read, report.published, report.rejected) == (300, 294, 6)
        lines = [json.loads(line) for line in Path(report.rejects_file).read_text().splitlines()]
        assert len(lines) == 6
        assert {(r["field"], r["rule"]) for r in lines} == {
            ("citizen_id", "citizen_id.check_digit")
        }
        assert all(len(r["key"]) == 18 for r in lines)
    finally:
        env.close()


def test_reject_threshold_stops_a_broken_export(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broken.sqlite'}"
    create_sample_database(url, count=400, invalid=80)
    env = Env(tmp_path, url)
    env.publisher.min_sample = 200
    try:
        with pytest.raises(PublishAbortedError) as info:
            env.publisher.publish(RESIDENTS)
        (problem,) = info.value.problems
        assert (
            problem.rule == "reject_threshold" and "over the threshold of 5.0%" in problem.message
        )
        assert env.outbox.pending() < 400 - 80  # stopped before the end
    finally:
        env.close()


def test_server_databases_as_sources(
    tmp_path: Path, sql_url: str, mock_platform: MockPlatform
) -> None:
    table = unique_name("hj")
    create_sample_database(sql_url, count=250, table=table, applications_table=unique_name("qr"))
    env = Env(tmp_path, sql_url, table=table)
    try:
        assert env.publisher.publish(RESIDENTS).published == 250
        env.legacy(
            "UPDATE {t} SET gxsj = :t WHERE gmsfhm IN (SELECT gmsfhm FROM (SELECT gmsfhm FROM {t} ORDER BY gmsfhm LIMIT 7) AS s)",
            t=datetime(2027, 1, 1),
        )
        assert env.publisher.publish(RESIDENTS).published == 7
        env.deliver(mock_platform)
        assert len(mock_platform.latest(RESIDENTS)) == 250
    finally:
        env.close()
        engine = sa.create_engine(sql_url)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_due_follows_the_update_cycle(env: Env) -> None:
    now = datetime(2026, 11, 21, 12, 0).timestamp()
    env.publisher.clock = lambda: now
    due = env.publisher.due  # household's datasets only: other installed plugins have their own
    assert {s.code for s in due("household")} == {"111112001/0002", "111112001/0003"}
    env.publisher.publish(RESIDENTS)
    assert {s.code for s in due("household", now=now + 3600)} == {"111112001/0003"}
    assert RESIDENTS in {
        s.code for s in env.publisher.due(now=now + timedelta(days=1).total_seconds())
    }


def test_only_datasets_are_published(env: Env) -> None:
    from govconnect import ConfigurationError

    with pytest.raises(ConfigurationError, match="no dataset with resource code '111112001/0001'"):
        env.publisher.publish("111112001/0001")
    with pytest.raises(ConfigurationError, match="threshold"):
        Publisher(env.registry, env.outbox, reject_threshold=2)


def test_replication_key_needs_a_since_parameter() -> None:
    class NoSince(Connector):
        name = "nosince"
        department = Department(code="D1", name="部门")
        system = LegacySystem(code="S1", name="系统")

        @dataset(
            code="311112001/0002",
            name="x",
            abstract="x",
            sharing="unconditional",
            update_cycle="daily",
            published="2026-01-01",
            key="code",
            replication_key="name",
        )
        def rows(self) -> Iterator[Office]:
            yield from ()

    with pytest.raises(ServiceDefinitionError, match=r"dataset\.since_required"):
        NoSince.services()


def test_publish_command(
    tmp_path: Path, mock_platform: MockPlatform, monkeypatch: pytest.MonkeyPatch, outbox_at: str
) -> None:
    """``govconnect publish`` with its outbox and state in a file or in PostgreSQL."""
    from typer.testing import CliRunner

    from govconnect.cli import build

    url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    create_sample_database(url, count=120, invalid=1)
    monkeypatch.setenv("GOVCONNECT_HOUSEHOLD_URL", url)
    base = [
        "publish",
        "--outbox",
        outbox_at,
        "--rejects-dir",
        str(tmp_path / "rj"),
    ]
    env = {"GOVCONNECT_PLATFORM_TOKEN": mock_platform.token}
    result = CliRunner().invoke(
        build(),
        [*base, RESIDENTS, "--json", "--deliver", "--url", mock_platform.url, "--node", NODE],
        env=env,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (report,) = data["datasets"]
    assert (report["read"], report["published"], report["rejected"]) == (120, 119, 1)
    assert data["delivery"]["records_delivered"] == 119
    assert len(mock_platform.latest(RESIDENTS)) == 119

    household_due = [*base, "--all", "--connector", "household"]  # other plugins may be installed
    due = CliRunner().invoke(build(), household_due, env=env)
    assert due.exit_code == 0 and "111112001/0003" in due.output  # the monthly statistics
    nothing = CliRunner().invoke(build(), household_due, env=env)
    assert "nothing is due" in nothing.output
    assert CliRunner().invoke(build(), [*base]).exit_code == 2
    assert (
        CliRunner()
        .invoke(build(), [*base, RESIDENTS, "--deliver"], env={"GOVCONNECT_PLATFORM_URL": ""})
        .exit_code
        == 2
    )
    bad = CliRunner().invoke(build(), [*base, "999999/1"])
    assert bad.exit_code == 1 and "no dataset" in bad.output


def test_publish_deliver_registers_only_the_nodes_resources(
    tmp_path: Path, mock_platform: MockPlatform
) -> None:
    """Both plugins are installed; publishing for the household node registers household's
    resources only, through the real command."""
    from .cli_support import govconnect

    url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    create_sample_database(url, count=30)
    env = {"GOVCONNECT_HOUSEHOLD_URL": url, "GOVCONNECT_PLATFORM_TOKEN": mock_platform.token}
    args = ["publish", RESIDENTS, "--deliver", "--url", mock_platform.url, "--node", NODE]
    ran = govconnect(*args, "--json", cwd=tmp_path, env=env)
    assert ran.code == 0, ran.output
    assert json.loads(ran.out)["delivery"]["records_delivered"] == 30
    registered = set(mock_platform.catalog)
    assert registered == {"111112001/0001", "111112001/0002", "111112001/0003"}
    assert load_registry(config={}).catalog().resources  # other plugins' resources exist …
    assert not any(code.startswith("311105001/") for code in registered)  # … and stay out


def test_publish_deliver_refuses_another_nodes_dataset(tmp_path: Path) -> None:
    from .cli_support import govconnect

    url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    create_sample_database(url, count=3)
    env = {"GOVCONNECT_HOUSEHOLD_URL": url, "GOVCONNECT_PLATFORM_TOKEN": "t"}
    args = ["publish", RESIDENTS, "--deliver", "--url", "http://127.0.0.1:1", "--node", "1/X"]
    ran = govconnect(*args, cwd=tmp_path, env=env)
    assert ran.code == 1 and "Traceback" not in ran.output
    assert f"{RESIDENTS} belongs to node {NODE}, not to 1/X" in ran.err
