"""Parallel publishing (``partitions=N``, ``publish --workers N``): key ranges published by worker
processes into one outbox, on both engines, against a real mock platform and a real SQLite legacy
database — the same records as one worker, only changes on later runs, deletes once, reruns with
another N, and a worker killed with SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from govconnect import (
    ConfigurationError,
    Connector,
    DeliveryWorker,
    Department,
    ExchangeClient,
    GovConnectError,
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
from tests.outbox_support import ENGINES, outbox_location

ITEMS = "211112001/0001"  # fingerprinted: no replication key
CHANGES = "211112001/0002"  # incremental: replication key ``updated``
PLAIN = "211112001/0003"  # no split=: cannot be cut into ranges
NODE = "D4/S4"
ROWS = 1200
KILL_AT: int | None = None
"""A key at which the worker reading it kills itself (SIGKILL), as an operator's kill -9 would."""


class Item(Record):
    id: int = field("编号", level=Level.PUBLIC)
    name: str = field("名称", level=Level.PUBLIC, max_length=50)
    updated: int = field("更新序号", level=Level.PUBLIC)


class KeyRangeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_from: int | None = None
    key_to: int | None = None


class ChangeParams(KeyRangeParams):
    since: int | None = None


class RangedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str


META: dict[str, Any] = {
    "abstract": "测试数据",
    "sharing": "unconditional",
    "update_cycle": "daily",
    "published": "2026-01-01",
    "key": "id",
}


class Ranged(Connector):
    """A legacy table with integer keys (so ranges must compare as numbers, not as text)."""

    name = "ranged"
    department = Department(code="D4", name="部门")
    system = LegacySystem(code="S4", name="系统")
    Settings = RangedSettings

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        self.db = sqlite3.connect(self.settings.path)

    def close(self) -> None:
        self.db.close()

    def quantiles(self, parts: int) -> list[int]:
        """Key quantiles: one ``OFFSET`` probe per boundary on the primary key."""
        (count,) = self.db.execute("SELECT COUNT(*) FROM items").fetchone()
        cuts = []
        for i in range(1, parts):
            row = self.db.execute(
                "SELECT id FROM items ORDER BY id LIMIT 1 OFFSET ?", (count * i // parts,)
            ).fetchone()
            if row:
                cuts.append(row[0])
        return cuts

    def _rows(self, params: KeyRangeParams, since: int | None, order: str) -> Iterator[dict]:
        sql, args = "SELECT id, name, updated FROM items WHERE 1 = 1", []
        for cond, value in (("id >= ?", params.key_from), ("id < ?", params.key_to)):
            if value is not None:
                sql, args = f"{sql} AND {cond}", [*args, value]
        if since is not None:
            sql, args = f"{sql} AND updated > ?", [*args, since]
        for key, name, updated in self.db.execute(f"{sql} ORDER BY {order}", args):
            if key == KILL_AT:
                os.kill(os.getpid(), signal.SIGKILL)
            yield {"id": key, "name": name, "updated": updated}

    @dataset(code=ITEMS, name="条目", split="quantiles", **META)
    def items(self, params: KeyRangeParams) -> Iterator[Item]:
        yield from self._rows(params, None, "id")

    @dataset(code=CHANGES, name="变更", split="quantiles", replication_key="updated", **META)
    def changes(self, params: ChangeParams) -> Iterator[Item]:
        yield from self._rows(params, params.since, "updated")

    @dataset(code=PLAIN, name="整表", **META)
    def plain(self) -> Iterator[Item]:
        yield from self._rows(KeyRangeParams(), None, "id")


class RangedPlugin:
    __name__ = "ranged_plugin"

    @hookimpl
    def register_connectors(self) -> list[type[Connector]]:
        return [Ranged]


class Env:
    """A legacy table of ``ROWS`` items and a publisher into an outbox at ``location``."""

    def __init__(self, tmp: Path, location: str, legacy: Path) -> None:
        self.legacy = legacy
        config = {"connectors": {"ranged": {"path": str(legacy)}}}
        self.registry = load_registry(config=config, plugins=[RangedPlugin()])
        self.outbox = Outbox(location)
        self.publisher = Publisher(
            self.registry, self.outbox, batch_size=50, rejects_dir=tmp / "rejects"
        )

    def sql(self, statement: str, *args: Any) -> None:
        with sqlite3.connect(self.legacy) as db:
            db.execute(statement, args)

    def deliver(self, platform: MockPlatform) -> None:
        with ExchangeClient(platform.url, token=platform.token, node=NODE, user_id="t") as client:
            client.sync_catalog(
                r.model_dump(mode="json") for r in self.registry.catalog().resources
            )
            DeliveryWorker(self.outbox, client, sleep=lambda s: None).drain(timeout=60)

    def ranges(self, code: str) -> list[tuple[Any, ...]]:
        return self.outbox.read(
            "SELECT part, lower, upper, bookmark FROM publish_ranges WHERE resource = ?"
            " ORDER BY part",
            (code,),
        )

    def close(self) -> None:
        self.publisher.close()
        self.outbox.close()


def make_legacy(path: Path) -> Path:
    """Keys 1..ROWS; ``updated`` a permutation of 1..ROWS (not in key order)."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, updated INTEGER)")
        db.executemany(
            "INSERT INTO items VALUES (?, ?, ?)",
            [(i, f"条目{i}", (i * 7919) % ROWS + 1) for i in range(1, ROWS + 1)],
        )
    return path


@pytest.fixture(params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    legacy = make_legacy(tmp_path / "legacy.sqlite")
    with outbox_location(request.param, tmp_path) as location:
        e = Env(tmp_path, location, legacy)
        yield e
        e.close()


@pytest.fixture(autouse=True)
def _no_kill() -> Iterator[None]:
    global KILL_AT
    yield
    KILL_AT = None


def source_items(env: Env) -> dict[int, str]:
    with sqlite3.connect(env.legacy) as db:
        return dict(db.execute("SELECT id, name FROM items").fetchall())


def platform_items(platform: MockPlatform, code: str) -> dict[int, str]:
    return {int(k): r["data"]["name"] for k, r in platform.latest(code).items()}


def test_one_and_three_workers_publish_the_same_records(
    env: Env, tmp_path: Path, mock_platform_factory: Any
) -> None:
    one, three = mock_platform_factory(seed=1), mock_platform_factory(seed=2)
    single = env.publisher.publish(ITEMS)
    env.deliver(one)
    with outbox_location(
        "sqlite" if env.outbox.is_file else "postgresql", tmp_path / "second"
    ) as other:
        second = Env(tmp_path, other, env.legacy)
        try:
            parallel = second.publisher.publish(ITEMS, partitions=3)
            second.deliver(three)
            assert len(second.ranges(ITEMS)) == 3
        finally:
            second.close()
    assert (single.partitions, parallel.partitions) == (1, 3)
    assert single.read == parallel.read == parallel.published == ROWS
    assert [r["read"] for r in parallel.ranges] == [400, 400, 400]
    assert [(r["key_from"], r["key_to"]) for r in parallel.ranges] == [
        (None, 401),
        (401, 801),
        (801, None),
    ]
    assert one.records_received == three.records_received == {ITEMS: ROWS}
    assert platform_items(one, ITEMS) == platform_items(three, ITEMS) == source_items(env)
    assert set(three.application_counts(ITEMS).values()) == {1}


def test_later_runs_publish_only_changes_and_delete_once(
    env: Env, mock_platform: MockPlatform
) -> None:
    first = env.publisher.publish(ITEMS, partitions=3)
    assert (first.published, first.deleted) == (ROWS, 0)
    env.deliver(mock_platform)
    for key in (5, 600, 1100):  # one change and one delete in every range
        env.sql("UPDATE items SET name = '改名' WHERE id = ?", key)
        env.sql("DELETE FROM items WHERE id = ?", key + 1)
    env.sql("INSERT INTO items VALUES (5000, '新条目', 9000)")
    second = env.publisher.publish(ITEMS, partitions=3)
    assert (second.read, second.published, second.unchanged, second.deleted) == (
        ROWS - 2,
        4,
        ROWS - 6,
        3,
    )
    assert [r["published"] for r in second.ranges] == [1, 1, 2]
    third = env.publisher.publish(ITEMS, partitions=3)
    assert (third.published, third.deleted) == (0, 0)
    env.deliver(mock_platform)
    assert platform_items(mock_platform, ITEMS) == source_items(env)
    for gone in (6, 601, 1101):  # one upsert, then the delete: once
        assert mock_platform.applications(ITEMS, str(gone)) == 2

    incremental = env.publisher.publish(CHANGES, partitions=3)
    assert incremental.read == ROWS - 2 and incremental.bookmark_after is not None
    for key in (7, 650, 1199):
        env.sql("UPDATE items SET name = '再改', updated = ? WHERE id = ?", 10_000 + key, key)
    again = env.publisher.publish(CHANGES, partitions=3)
    assert (again.read, again.published) == (3, 3)
    assert [r["read"] for r in again.ranges] == [1, 1, 1]
    assert again.bookmark_after == 10_007  # the bookmark every range has passed
    assert env.publisher.publish(CHANGES, partitions=3).read == 0


def test_rerun_with_another_number_of_workers(env: Env, mock_platform: MockPlatform) -> None:
    env.publisher.publish(CHANGES, partitions=3)
    bookmarks = [row[3] for row in env.ranges(CHANGES)]
    assert len(bookmarks) == 3 and None not in bookmarks
    for key in (10, 500, 1000):
        env.sql("UPDATE items SET name = '改', updated = ? WHERE id = ?", 20_000 + key, key)
    two = env.publisher.publish(CHANGES, partitions=2)
    # the new ranges start at the oldest old bookmark: nothing skipped, a few rows read again
    assert two.read >= 3 and two.published == two.read
    assert len(env.ranges(CHANGES)) == 2
    env.sql("UPDATE items SET name = '又改', updated = 30000 WHERE id = 11")
    one = env.publisher.publish(CHANGES)  # back to one worker: the ranges fold into one bookmark
    assert env.ranges(CHANGES) == [] and 1 <= one.read <= 3
    assert env.publisher.state.bookmark(CHANGES) == 30_000
    env.deliver(mock_platform)
    assert platform_items(mock_platform, CHANGES) == source_items(env)

    env.publisher.publish(ITEMS, partitions=3)
    env.sql("DELETE FROM items WHERE id IN (100, 1100)")
    two_items = env.publisher.publish(ITEMS, partitions=2)
    assert (two_items.published, two_items.deleted) == (0, 2)
    env.deliver(mock_platform)
    assert platform_items(mock_platform, ITEMS) == source_items(env)
    assert set(mock_platform.application_counts(ITEMS).values()) <= {1, 2}


def test_a_killed_worker_then_a_rerun_publishes_every_record_once(
    env: Env, mock_platform: MockPlatform
) -> None:
    global KILL_AT
    KILL_AT = 600  # mid-way through the second of three ranges
    with pytest.raises(GovConnectError, match=r"key range 2 of 3 .*killed by signal 9"):
        env.publisher.publish(ITEMS, partitions=3)
    queued = env.outbox.pending()
    assert 2 * ROWS // 3 < queued < ROWS  # the other two ranges and the dead one's first batches
    KILL_AT = None
    rerun = env.publisher.publish(ITEMS, partitions=2)  # another N: fingerprints are per key
    assert (rerun.unchanged, rerun.published) == (queued, ROWS - queued)
    env.deliver(mock_platform)
    assert platform_items(mock_platform, ITEMS) == source_items(env)
    assert set(mock_platform.application_counts(ITEMS).values()) == {1}

    # a range that dies never has its unread records deleted; a range that finished does
    env.sql("DELETE FROM items WHERE id = 10")
    KILL_AT = 800
    with pytest.raises(GovConnectError, match="killed by signal 9"):
        env.publisher.publish(ITEMS, partitions=2)
    KILL_AT = None
    env.deliver(mock_platform)
    assert len(mock_platform.latest(ITEMS)) == ROWS - 1 and 10 not in platform_items(
        mock_platform, ITEMS
    )

    KILL_AT = 600
    with pytest.raises(GovConnectError, match="killed by signal 9"):
        env.publisher.publish(CHANGES, partitions=3)
    KILL_AT = None
    env.publisher.publish(CHANGES, partitions=3)  # same N: every range resumes at its bookmark
    env.deliver(mock_platform)
    assert len(mock_platform.latest(CHANGES)) == ROWS - 1
    assert set(mock_platform.application_counts(CHANGES).values()) == {1}


def test_a_range_over_the_reject_threshold_stops_and_says_which(env: Env) -> None:
    env.sql("UPDATE items SET name = ? WHERE id > 1000", "名" * 60)  # too long: rejected
    with pytest.raises(PublishAbortedError, match=r"key range 3 of 3 \[801, …\) stopped") as info:
        env.publisher.publish(ITEMS, partitions=3)
    assert info.value.problems[0].field == ITEMS
    assert "over the threshold" in info.value.problems[0].message
    assert env.outbox.pending() == 1000  # the clean ranges, and range 3 up to key 1000
    assert env.publisher.state.last_run(ITEMS) == (0, None)  # the run is not recorded as done


def test_a_dataset_that_cannot_be_cut_is_published_by_one_worker(env: Env) -> None:
    report = env.publisher.publish(PLAIN, partitions=3)
    assert report.partitions == 1 and report.read == ROWS
    assert report.note and "split=" in report.note and "one worker" in report.note


@pytest.mark.parametrize("bad", [0, -1, 10**6, 2.5, True])
def test_a_bad_number_of_partitions_is_refused(env: Env, bad: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"partitions must be a whole number from 1 to"):
        env.publisher.publish(ITEMS, partitions=bad)
    assert env.outbox.pending() == 0


def test_publish_refuses_a_bad_workers_value(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from govconnect.cli import build

    for bad in ("0", "-1", "100000", "two"):
        ran = CliRunner().invoke(
            build(), ["publish", ITEMS, "--outbox", str(tmp_path / "o.sqlite"), "--workers", bad]
        )
        assert ran.exit_code == 2 and "--workers" in ran.output, ran.output
    assert not (tmp_path / "o.sqlite").exists()  # refused before anything was opened


def test_publish_command_with_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``publish --workers 3`` through the command: the table says how many workers ran, and a
    dataset that cannot be cut is published by one, with a note saying why."""
    from typer.testing import CliRunner

    from govconnect.cli import build

    legacy = make_legacy(tmp_path / "legacy.sqlite")
    registry = load_registry(
        config={"connectors": {"ranged": {"path": str(legacy)}}}, plugins=[RangedPlugin()]
    )
    monkeypatch.setattr("govconnect.cli.publish.registry", lambda ctx: registry)
    base = ["publish", "--outbox", str(tmp_path / "o.sqlite"), "--workers", "3"]
    ran = CliRunner().invoke(build(), [*base, ITEMS])
    assert ran.exit_code == 0, ran.output
    assert "published by 3 workers, one key range each" in ran.output
    again = CliRunner().invoke(build(), [*base, ITEMS, "--json"])
    (report,) = json.loads(again.output)["datasets"]
    assert (report["partitions"], report["read"], report["unchanged"]) == (3, ROWS, ROWS)
    assert [r["read"] for r in report["ranges"]] == [400, 400, 400]
    plain = CliRunner().invoke(build(), [*base, PLAIN])
    assert plain.exit_code == 0 and "published by one worker" in plain.output


def test_split_must_name_a_method_and_the_dataset_must_take_key_ranges() -> None:
    class NoMethod(Connector):
        name = "nomethod"
        department = Department(code="D5", name="部门")
        system = LegacySystem(code="S5", name="系统")

        @dataset(code="211112001/0011", name="条目", split="cut", **META)
        def rows(self, params: KeyRangeParams) -> Iterator[Item]:
            yield from ()

    with pytest.raises(ServiceDefinitionError, match=r"service\.split"):
        NoMethod.services()

    class NoRangeParams(Connector):
        name = "noranges"
        department = Department(code="D5", name="部门")
        system = LegacySystem(code="S5", name="系统")

        def cut(self, parts: int) -> list[int]:
            return []

        @dataset(code="211112001/0012", name="条目", split="cut", **META)
        def rows(self) -> Iterator[Item]:
            yield from ()

    with pytest.raises(ServiceDefinitionError, match=r"dataset\.key_range_params"):
        NoRangeParams.services()
