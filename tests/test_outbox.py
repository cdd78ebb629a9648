"""The durable outbox: commits, validation at the edge, claiming, leases, order, dead letters, CLI."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from govconnect import (
    ConfigurationError,
    EventKind,
    ExchangeEvent,
    InvalidInputError,
    Outbox,
    Problem,
    hookimpl,
    make_plugin_manager,
)
from govconnect.cli import _common as cli_common
from govconnect.cli import outbox as outbox_cli
from tests.outbox_support import ENGINES, engine_outbox, one_per_row

CODE = "111112001/2001"
OTHER = "111112001/2002"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def events() -> list[ExchangeEvent]:
    return []


@pytest.fixture(params=ENGINES)
def outbox(
    request: pytest.FixtureRequest, tmp_path: Path, clock: Clock, events: list[ExchangeEvent]
) -> Outbox:
    """Records enqueued together share a row (up to 500); see one_per_row for per-record rows.
    Each engine in turn (tests marked sqlite_only look inside the file)."""
    with engine_outbox(request, tmp_path, clock=clock, on_event=events.append) as box:
        yield box


@pytest.mark.sqlite_only  # reads the file with sqlite3
def test_enqueue_is_committed_before_it_returns(outbox: Outbox) -> None:
    ids = outbox.enqueue(CODE, [{"id": i} for i in range(5)], user_id="u1", case_id="C1")
    assert list(ids) == [1]  # one row holds them
    other = sqlite3.connect(outbox.path)
    assert other.execute("SELECT sum(records) FROM outbox").fetchone()[0] == 5
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    assert list(outbox.enqueue(CODE, iter([{"id": 9}]))) == [2]
    assert list(outbox.enqueue(CODE, [])) == []


def test_enqueue_emits_one_event_per_call(outbox: Outbox, events: list[ExchangeEvent]) -> None:
    outbox.enqueue(CODE, [{"id": 1}, {"id": 2}], case_id="C1")
    outbox.enqueue_status("C1", "accepted")
    assert [(e.kind, e.records, e.resource_code, e.case_id) for e in events] == [
        (EventKind.ENQUEUED, 2, CODE, "C1"),
        (EventKind.ENQUEUED, 1, None, "C1"),
    ]


@pytest.mark.parametrize(
    ("records", "field", "rule"),
    [
        ([{"id": 1}, "text"], "records[1]", "type"),
        ([{"op": "merge"}], "records[0].op", "enum"),
        ([{"id": 1}, {"op": ["upsert"]}], "records[1].op", "enum"),
        ([{"id": 1}, {"op": "delete"}], "records[1].id", "required"),
        ([{"when": object()}], "records[0]", "json"),
        ([{"id": 1}] * 1001 + [{"when": object()}], "records[1001]", "json"),
        ([{"id": 1}] * 1001 + [{1: "not a string key"}], "records[1001]", "json"),
    ],
)
def test_bad_records_refuse_the_whole_call(
    outbox: Outbox, records: list[Any], field: str, rule: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        outbox.enqueue(CODE, records)
    assert (caught.value.problems[0].field, caught.value.problems[0].rule) == (field, rule)
    assert outbox.pending() == 0


def test_bad_resource_code_and_status(outbox: Outbox) -> None:
    with pytest.raises(InvalidInputError):
        outbox.enqueue("no-slash", [{"id": 1}])
    with pytest.raises(InvalidInputError):
        outbox.enqueue_status("C1", "finished")
    with pytest.raises(InvalidInputError):
        outbox.enqueue_status("C1", "returned")
    assert outbox.pending() == 0


def test_mappings_that_are_not_dicts_are_accepted(outbox: Outbox) -> None:
    from types import MappingProxyType

    outbox.enqueue(CODE, [MappingProxyType({"id": 1})])
    assert outbox.claim("w").joined == b'{"id":1}'


def test_bad_synchronous_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        Outbox(tmp_path / "x.sqlite", synchronous="SOMETIMES")


def test_records_enqueued_together_share_rows_of_batch_size(tmp_path: Path) -> None:
    """1,200 records in one call: three rows (500, 500, 200), one request each."""
    records = [{"id": i, "name": f"居民{i}"} for i in range(1200)]
    with Outbox(tmp_path / "o.sqlite") as box:
        assert box.batch_size == 500
        assert list(box.enqueue(CODE, records, user_id="u1")) == [1, 2, 3]
        rows = box._conn().execute("SELECT id, records FROM outbox ORDER BY id").fetchall()
        assert rows == [(1, 500), (2, 500), (3, 200)]
        assert box.pending() == 1200 and box.status().pending == 1200
        batches = box.claim_many("w", 5)
        assert [(b.ids, b.records) for b in batches] == [([1], 500), ([2], 500), ([3], 200)]
        assert [orjson.loads(b"[" + b.joined + b"]") for b in batches] == [
            records[:500],
            records[500:1000],
            records[1000:],
        ]
        box.mark_delivered_many([(b, False) for b in batches])
        status = box.status()
        assert (status.pending, status.delivered_batches, status.delivered_records) == (
            0,
            3,
            1200,
        )


def test_encoded_payloads_share_rows_too(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", batch_size=2) as box:
        assert list(box.enqueue_encoded(CODE, [b'{"id":1}', b'{"id":2}', b'{"id":3}'])) == [1, 2]
        box.enqueue_encoded(CODE, [b'{"id":4}'])  # row 3: combines with row 2, not with 1
        first, second = box.claim_many("w", 2, batch_size=10)
        assert (first.ids, first.records, first.joined) == ([1], 2, b'{"id":1},{"id":2}')
        assert (second.ids, second.records, second.joined) == ([2, 3], 2, b'{"id":3},{"id":4}')


def test_the_worker_combines_small_rows_but_never_splits_one(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", batch_size=3) as box:
        box.enqueue(CODE, [{"id": 1}, {"id": 2}])  # row 1: 2 records
        box.enqueue(CODE, [{"id": 3}, {"id": 4}])  # row 2: 2
        box.enqueue(CODE, [{"id": 5}])  # row 3: 1
        box.enqueue(OTHER, [{"id": i} for i in range(3)])  # row 4: 3
        first = box.claim("w", batch_size=3)
        assert (first.ids, first.records) == ([1], 2)  # 2 + 2 would pass 3
        second = box.claim("w", batch_size=3)
        assert (second.ids, second.records) == ([2, 3], 3)
        assert orjson.loads(b"[" + second.joined + b"]") == [{"id": 3}, {"id": 4}, {"id": 5}]
        whole = box.claim("w", batch_size=2)
        assert (whole.target, whole.ids, whole.records) == (OTHER, [4], 3)  # sent whole


def test_a_dead_batch_of_chunks_replays_whole(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", batch_size=3) as box:
        for start in (0, 2, 4):  # rows of 2, 2, 1: none full, so combinable
            box.enqueue(CODE, [{"id": i} for i in range(start, min(start + 2, 5))])
        batch = box.claim("w", batch_size=5)
        assert (batch.ids, batch.records) == ([1, 2, 3], 5)
        dead_id = box.bury(batch, "rejected (422)")
        [letter] = box.dead_letters()
        assert letter.records == 5 and box.status().dead_records == 5 and box.pending() == 0
        assert box.replay([dead_id]) == 1
        assert box.pending() == 5
        again = box.claim("w", batch_size=5)
        assert (again.key, again.records, again.joined) == (batch.key, 5, batch.joined)
        assert len(again.ids) == 3


@pytest.mark.sqlite_only  # the file's one-scan order across targets; PostgreSQL claims target by target
def test_one_claim_reads_the_live_batches_once_and_reclaims_before_starting_new_ones(
    outbox: Outbox, clock: Clock
) -> None:
    one_per_row(outbox, CODE, [{"id": i} for i in range(2)])
    outbox.enqueue(OTHER, [{"id": 9}])
    lost = outbox.claim_many("crashed", 2, batch_size=1, lease=5)
    outbox.enqueue(CODE, [{"id": 2}])
    clock.now += 6
    batches = outbox.claim_many("w", 10, batch_size=1)
    assert [(b.key, b.attempt) for b in batches[:2]] == [(lost[0].key, 2), (lost[1].key, 2)]
    assert [(b.target, b.ids) for b in batches[2:]] == [(OTHER, [3]), (CODE, [4])]


@pytest.mark.parametrize("size", [0, 5001])
def test_batch_size_is_bounded_by_the_platform(tmp_path: Path, size: int) -> None:
    with pytest.raises(ConfigurationError, match="batch_size"):
        Outbox(tmp_path / "o.sqlite", batch_size=size)


def test_claim_batches_by_target_and_trace(outbox: Outbox) -> None:
    one_per_row(outbox, CODE, [{"id": i} for i in range(5)], user_id="u1")
    outbox.enqueue(OTHER, [{"id": 1}])
    outbox.enqueue(CODE, [{"id": 9}], user_id="u2")
    first = outbox.claim("w1", batch_size=3)
    assert (first.target, first.ids, first.user_id, first.attempt) == (CODE, [1, 2, 3], "u1", 1)
    # CODE is in flight: its later rows wait; OTHER goes ahead.
    second = outbox.claim("w2", batch_size=3)
    assert (second.target, second.ids) == (OTHER, [6])
    assert outbox.claim("w3") is None
    outbox.mark_delivered(first)
    third = outbox.claim("w3", batch_size=10)
    assert third.ids == [4, 5]  # stops where the user id changes
    outbox.mark_delivered(third)
    fourth = outbox.claim("w3", batch_size=10)
    assert (fourth.ids, fourth.user_id) == ([7], "u2")
    assert len({first.key, second.key, third.key, fourth.key}) == 4


def test_status_changes_go_one_at_a_time_in_order(outbox: Outbox) -> None:
    outbox.enqueue_status("C1", "accepted", user_id="u")
    outbox.enqueue_status("C1", "completed", result={"licence": "L"})
    first = outbox.claim("w")
    assert (first.operation, first.target, first.case_id, len(first.ids)) == (
        "status",
        "C1",
        "C1",
        1,
    )
    assert outbox.claim("another-worker") is None
    outbox.mark_delivered(first)
    assert b"completed" in outbox.claim("w").joined


def test_a_worker_may_prefetch_its_next_batch_of_a_target_and_release_it(outbox: Outbox) -> None:
    one_per_row(outbox, CODE, [{"id": i} for i in range(4)])
    first = outbox.claim("w", batch_size=2)
    second = outbox.claim("w", batch_size=2)
    assert (first.ids, second.ids) == ([1, 2], [3, 4])
    assert outbox.claim("other") is None
    outbox.reschedule(first, 10, "503")
    outbox.release(second)
    # The released batch keeps its key but waits behind the rescheduled one.
    assert outbox.claim("other") is None
    assert outbox.status().waiting == 2


def test_lease_expiry_reclaims_with_the_same_key(outbox: Outbox, clock: Clock) -> None:
    outbox.enqueue(CODE, [{"id": i} for i in range(3)])
    batch = outbox.claim("crashed-worker", lease=10)
    assert outbox.claim("other", lease=10) is None
    clock.now += 11
    again = outbox.claim("other", lease=10, batch_size=1)
    assert (again.key, again.ids, again.attempt) == (batch.key, batch.ids, 2)
    assert outbox.status().in_flight == 3


@pytest.mark.sqlite_only  # reads the file with sqlite3
def test_reschedule_waits_and_records_the_error(outbox: Outbox, clock: Clock) -> None:
    outbox.enqueue(CODE, [{"id": 1}])
    batch = outbox.claim("w")
    outbox.reschedule(batch, 5.0, "503 unavailable")
    status = outbox.status()
    assert (status.pending, status.due, status.waiting) == (1, 0, 1)
    assert outbox.claim("w") is None
    assert outbox.next_due() == clock.now + 5
    row = sqlite3.connect(outbox.path).execute("SELECT attempts, last_error FROM outbox_batches")
    row = row.fetchone()
    assert row == (1, "503 unavailable")
    clock.now += 5
    assert outbox.claim("w").key == batch.key


def test_reschedule_by_a_worker_that_lost_its_lease_is_ignored(
    outbox: Outbox, clock: Clock
) -> None:
    outbox.enqueue(CODE, [{"id": 1}])
    stale = outbox.claim("slow", lease=1)
    clock.now += 2
    fresh = outbox.claim("fast", lease=30)
    outbox.reschedule(stale, 100, "late")
    assert outbox.status().in_flight == 1
    outbox.mark_delivered(fresh)
    outbox.mark_delivered(stale)  # harmless: already gone
    assert outbox.status().delivered_batches == 1


def test_dead_letters_keep_reason_problems_and_replay_keeps_key(
    outbox: Outbox, clock: Clock, events: list[ExchangeEvent]
) -> None:
    outbox.enqueue(CODE, [{"id": 1}, {"id": 2}])
    batch = outbox.claim("w")
    dead_id = outbox.bury(batch, "rejected (422)", [Problem("records[0].x", "rule", "msg")])
    assert outbox.bury(batch, "again") is None
    [letter] = outbox.dead_letters()
    assert (letter.id, letter.batch_key, letter.records, letter.reason) == (
        dead_id,
        batch.key,
        2,
        "rejected (422)",
    )
    assert letter.problems == [Problem("records[0].x", "rule", "msg")]
    assert outbox.pending() == 0 and outbox.status().dead_records == 2
    clock.now += 100
    assert outbox.replay([dead_id, 999]) == 1
    assert outbox.dead_letters() == []
    again = outbox.claim("w")
    assert (again.key, again.records, again.attempt) == (batch.key, 2, 1)
    assert again.joined == batch.joined
    assert again.created_at == clock.now  # a fresh deadline
    assert events[-1].kind is EventKind.REPLAYED and events[-1].extra == {"dead_letter": dead_id}


def test_replay_all(outbox: Outbox) -> None:
    outbox.enqueue(CODE, [{"id": 1}])
    outbox.enqueue(OTHER, [{"id": 2}])
    outbox.bury(outbox.claim("w"), "x")
    outbox.bury(outbox.claim("w"), "y")
    assert outbox.replay() == 2
    assert outbox.pending() == 2


def test_status_and_purge(outbox: Outbox, clock: Clock) -> None:
    outbox.enqueue(CODE, [{"id": 1}, {"id": 2}])
    outbox.mark_delivered(outbox.claim("w"), duplicate=True)
    status = outbox.status()
    assert (status.delivered_batches, status.delivered_records, status.pending) == (1, 2, 0)
    assert outbox.next_due() is None
    assert outbox.purge(clock.now) == 0
    assert outbox.purge(clock.now + 1) == 1
    assert outbox.status().delivered_batches == 0


def test_observer_failures_are_logged_and_swallowed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    class Broken:
        @hookimpl
        def exchange_event(self, event: ExchangeEvent) -> None:
            raise RuntimeError("observer bug")

    class Good:
        @hookimpl
        def exchange_event(self, event: ExchangeEvent) -> None:
            seen.append(event.kind.value)

    class NoArgs:
        @hookimpl
        def exchange_event(self) -> None:
            seen.append("no-args")

    pm = make_plugin_manager(plugins=[Broken(), Good(), NoArgs()], entry_points_enabled=False)

    def bad_callback(event: ExchangeEvent) -> None:
        raise ValueError("callback bug")

    with Outbox(tmp_path / "o.sqlite", pm=pm, on_event=bad_callback) as box:
        box.enqueue(CODE, [{"id": 1}])
    assert sorted(seen) == ["enqueued", "no-args"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(messages) == 2 and all("ignored" in m for m in messages)


def test_outbox_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "o.sqlite"
    with Outbox(path) as box:
        box.enqueue(CODE, [{"id": 1}])
        uid = box._conn().execute("SELECT value FROM outbox_meta").fetchone()
    with Outbox(path) as box:
        assert box.pending() == 1
        assert box._conn().execute("SELECT value FROM outbox_meta").fetchone() == uid
        assert list(box.enqueue(CODE, [{"id": 2}])) == [2]


# --- CLI ---------------------------------------------------------------------------------------


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None: ...

    outbox_cli.register(app)
    return app


def run(*args: str) -> Any:
    return CliRunner().invoke(
        cli(), ["outbox", *args], catch_exceptions=False, env={"COLUMNS": "250"}
    )


def test_cli_status_dead_retry_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a wide console whatever the worker's terminal (under pytest-xdist the width the console
    # found at import wins over COLUMNS): the dead-letter table must not cut the reason
    monkeypatch.setattr(cli_common.console, "_width", 250)
    path = str(tmp_path / "o.sqlite")
    with Outbox(path) as box:
        box.enqueue(CODE, [{"id": 1}, {"id": 2}])
        box.enqueue(OTHER, [{"id": 3}])
        dead = box.bury(
            box.claim("w"), "rejected (422): bad", [Problem("records[0].op", "enum", "m")]
        )
        box.mark_delivered(box.claim("w"))
    result = run("status", "--path", path)
    assert result.exit_code == 0 and "dead letters" in result.output
    result = run("dead", "--path", path)
    assert "rejected (422)" in result.output and "records[0].op" in result.output
    assert run("retry", "--path", path).exit_code == 2
    assert run("retry", "42", "--all", "--path", path).exit_code == 2
    assert run("retry", "42", "--path", path).exit_code == 1
    result = run("retry", str(dead), "--path", path)
    assert result.exit_code == 0 and "replayed 1" in result.output
    assert "no dead letters" in run("dead", "--path", path).output
    assert run("retry", "--all", "--path", path).output.strip() == "replayed 0 dead letter(s)"
    result = run("purge", "--delivered-before", "2000-01-01", "--path", path)
    assert "purged 0" in result.output
    tomorrow = datetime.fromtimestamp(2e9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert "purged 1" in run("purge", "--delivered-before", tomorrow, "--path", path).output


def test_cli_uses_the_environment_for_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env.sqlite"
    monkeypatch.setenv("GOVCONNECT_OUTBOX", str(path))
    assert run("status").exit_code == 0
    assert path.exists()


def test_outbox_files_of_the_first_schema_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, operation TEXT NOT NULL,
            target TEXT NOT NULL, payload BLOB NOT NULL, user_id TEXT, case_id TEXT,
            created_at REAL NOT NULL, next_attempt_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, batch_key TEXT, lease_owner TEXT,
            lease_until REAL, last_error TEXT);
        CREATE INDEX outbox_by_batch ON outbox(batch_key) WHERE batch_key IS NOT NULL;
        INSERT INTO outbox (operation, target, payload, created_at, next_attempt_at, attempts,
            batch_key) VALUES ('publish', '1/2', '{"id":1}', 0, 0, 1, 'k1'),
            ('publish', '1/2', '{"id":2}', 0, 0, 1, 'k1'), ('publish', '1/2', '{"id":3}', 0, 0, 0, NULL);
        """
    )
    old.close()
    with Outbox(path) as box:
        first = box.claim("w", batch_size=10)
        assert (first.key, first.ids, first.attempt) == ("k1", [1, 2], 2)
        box.mark_delivered(first)
        assert box.claim("w", batch_size=10).ids == [3]
    with Outbox(path) as box:  # a second open finds nothing to migrate
        assert box.pending() == 1


def test_outbox_files_of_the_second_schema_are_migrated(tmp_path: Path) -> None:
    """One record per row with the payload in the middle, batches without a row count, dead
    letters holding one record's object per entry: all carried over, keys kept."""
    path = tmp_path / "second.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE outbox_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE outbox (id INTEGER PRIMARY KEY, operation TEXT NOT NULL,
            target TEXT NOT NULL, payload BLOB NOT NULL, user_id TEXT, case_id TEXT,
            created_at REAL NOT NULL, next_attempt_at REAL NOT NULL);
        CREATE TABLE outbox_batches (key TEXT PRIMARY KEY, operation TEXT NOT NULL,
            target TEXT NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL,
            user_id TEXT, case_id TEXT, records INTEGER NOT NULL, created_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
            lease_owner TEXT, lease_until REAL, last_error TEXT);
        CREATE TABLE outbox_dead (id INTEGER PRIMARY KEY AUTOINCREMENT, batch_key TEXT NOT NULL,
            operation TEXT NOT NULL, target TEXT NOT NULL, user_id TEXT, case_id TEXT,
            records INTEGER NOT NULL, entries BLOB NOT NULL, attempts INTEGER NOT NULL,
            dead_at REAL NOT NULL, reason TEXT NOT NULL, problems TEXT NOT NULL);
        INSERT INTO outbox VALUES (1, 'publish', '1/2', X'7B226964223A317D', 'u', NULL, 0, 0),
            (2, 'publish', '1/2', X'7B226964223A327D', 'u', NULL, 0, 0),
            (3, 'publish', '1/2', X'7B226964223A337D', 'u', NULL, 0, 0);
        INSERT INTO outbox_batches VALUES ('k1', 'publish', '1/2', 1, 2, 'u', NULL, 2, 0, 1, 0,
            NULL, NULL, '503');
        INSERT INTO outbox_dead (batch_key, operation, target, records, entries, attempts,
            dead_at, reason, problems) VALUES ('k0', 'publish', '3/4', 2,
            '[{"id":7,"created_at":0,"payload":{"id":70}},{"id":8,"created_at":0,"payload":{"id":80}}]',
            1, 0, 'rejected (422)', '[]');
        """
    )
    old.close()
    with Outbox(path) as box:
        assert box.pending() == 3
        first = box.claim("w", batch_size=10)
        assert (first.key, first.ids, first.records, first.attempt) == ("k1", [1, 2], 2, 2)
        assert first.joined == b'{"id":1},{"id":2}'
        box.mark_delivered(first)
        assert box.claim("w", batch_size=10).joined == b'{"id":3}'
        assert box.replay() == 1
        replayed = box.claim("w", batch_size=10)
        assert (replayed.key, replayed.records, replayed.joined) == (
            "k0",
            2,
            b'{"id":70},{"id":80}',
        )
        assert list(box.enqueue(CODE, [{"id": 4}, {"id": 5}])) == [6]
    with Outbox(path) as box:  # a second open finds nothing to migrate
        assert box.pending() == 5


def test_cli_drain_delivers_with_progress(tmp_path: Path, mock_platform: Any) -> None:
    from govconnect import ExchangeClient
    from govconnect.testing import DEFAULT_NODE

    client = ExchangeClient(
        mock_platform.url, token=mock_platform.token, node=DEFAULT_NODE, user_id="u"
    )
    client.put_resource({"code": CODE, "version": 1})
    path = str(tmp_path / "o.sqlite")
    with Outbox(path, batch_size=100) as box:
        box.enqueue(CODE, [{"id": i} for i in range(1200)])
        box.enqueue("999/9", [{"id": 1}])  # unknown resource: dead-lettered
    env = {"GOVCONNECT_PLATFORM_TOKEN": mock_platform.token, "COLUMNS": "200"}
    result = CliRunner().invoke(
        cli(),
        [
            "outbox",
            "drain",
            "--url",
            mock_platform.url,
            "--node",
            DEFAULT_NODE,
            "--path",
            path,
            "--batch-size",
            "100",
            "--threads",
            "2",
        ],
        env=env,
    )
    assert "delivered 1200 record(s) in 12 batch(es)" in result.output
    assert "dead-lettered 1" in result.output
    assert result.exit_code == 1  # something was dead-lettered
    assert mock_platform.records_received == {CODE: 1200}
    assert mock_platform.token not in result.output
    bad = CliRunner().invoke(
        cli(),
        ["outbox", "drain", "--url", mock_platform.url, "--node", "bad", "--path", path],
        env=env,
    )
    assert bad.exit_code == 1 and "node" in bad.output


@pytest.mark.sqlite_only  # the file's one-scan order across targets; PostgreSQL claims target by target
def test_many_targets_in_flight_use_the_json_path(outbox: Outbox) -> None:
    """Past 64 targets with live batches the skip terms travel as JSON; the answers are the same."""
    for status in ("accepted", "completed"):
        for n in range(70):
            outbox.enqueue_status(f"C{n}", status)
    first = outbox.claim_many("a", 70)
    assert [b.target for b in first] == [f"C{n}" for n in range(70)]
    assert outbox.claim("b") is None  # every case's next status waits behind "a"'s batch
    outbox.enqueue(CODE, [{"id": 1}])
    assert outbox.claim("b").target == CODE
    second = outbox.claim("a")  # "a" may go on with its own targets, in order
    assert (second.target, orjson.loads(second.joined)["status"]) == ("C0", "completed")


@pytest.mark.sqlite_only  # the file's one-scan order across targets; PostgreSQL claims target by target
def test_scans_jump_dense_batches_but_not_interleaved_ones(outbox: Outbox) -> None:
    one_per_row(outbox, CODE, [{"id": i} for i in range(4)])  # ids 1-4
    outbox.enqueue(OTHER, [{"id": 5}])  # id 5
    one_per_row(outbox, CODE, [{"id": 6}, {"id": 7}])  # ids 6-7
    assert outbox.claim("a", batch_size=4).ids == [1, 2, 3, 4]  # dense: later scans jump it
    assert outbox.claim("a", batch_size=4).ids == [5]
    assert outbox.claim("a", batch_size=4).ids == [6, 7]


def test_interleaved_batches_do_not_hide_other_targets(outbox: Outbox) -> None:
    outbox.enqueue(CODE, [{"id": 1}])  # id 1
    outbox.enqueue(OTHER, [{"id": 2}])  # id 2
    outbox.enqueue(CODE, [{"id": 3}])  # id 3
    first = outbox.claim("a", batch_size=2)
    assert first.ids == [1, 3]  # spans id 2 without owning it
    assert outbox.claim("b").ids == [2]


def test_threads_of_one_process_take_turns_to_write(
    tmp_path: Path,
) -> None:
    """A writer blocked by another thread's transaction waits on a lock (not in SQLite's busy
    handler) and goes on when it commits; one held past busy_timeout fails as SQLite would."""
    import threading
    import time

    box = Outbox(tmp_path / "o.sqlite", busy_timeout=0.2)
    inside, release = threading.Event(), threading.Event()

    def hold(conn: sqlite3.Connection) -> None:
        inside.set()
        release.wait(5)

    holder = threading.Thread(target=lambda: box.enqueue(CODE, [{"id": 1}], within=hold))
    holder.start()
    assert inside.wait(5)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        box.enqueue(CODE, [{"id": 2}])  # held past busy_timeout
    box.busy_timeout = 10.0  # from here on, wait as long as it takes
    waited: list[float] = []

    def second() -> None:
        box.enqueue(CODE, [{"id": 3}])
        waited.append(time.monotonic() - started)

    writer = threading.Thread(target=second)
    started = time.monotonic()
    writer.start()
    time.sleep(0.05)
    release.set()
    holder.join(5)
    writer.join(5)
    assert box.pending() == 2 and waited and 0.05 <= waited[0] < 5  # waited for the holder
    box.close()


@pytest.mark.parametrize(("zeroed", "pragma"), [(True, 1), (False, 2)])
def test_delivered_payloads_are_zeroed_in_the_file_unless_told_otherwise(
    tmp_path: Path, zeroed: bool, pragma: int
) -> None:
    """Set explicitly, not left to the SQLite build (Debian's zeroes, upstream's does not)."""
    secret = "110105199001011234-张三"
    path = tmp_path / "o.sqlite"
    with Outbox(path, secure_delete=zeroed, batch_size=1000) as box:  # a row over a page
        assert box._conn().execute("PRAGMA secure_delete").fetchone()[0] == pragma
        box.enqueue(CODE, [{"id": i, "who": secret} for i in range(1000)])
        box.mark_delivered(box.claim("w"))
        box._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert (secret.encode() in path.read_bytes()) is not zeroed


def test_full_rows_and_status_changes_get_their_key_with_the_enqueue(tmp_path: Path) -> None:
    """A full row is a batch of its own, under a key committed (fsynced) with the records: its
    claim fixes nothing new and commits without an fsync. Only a claim that combines rows under
    a new key is followed by a durable commit before anything is sent."""
    with Outbox(tmp_path / "o.sqlite", batch_size=2) as box:
        box.enqueue_status("C1", "accepted")  # row 1, keyed
        box.enqueue(CODE, [{"id": 1}, {"id": 2}, {"id": 3}])  # row 2 full (keyed), row 3 not
        box.enqueue(CODE, [{"id": 4}])  # row 4, not full
        keys = dict(box._conn().execute("SELECT id, batch_key FROM outbox").fetchall())
        assert keys[1] and keys[2] and keys[3] is None and keys[4] is None

        def synced() -> Any:
            row = box._conn().execute("SELECT value FROM outbox_meta WHERE key = 'synced_at'")
            return row.fetchone()

        status = box.claim("w")
        assert (status.key, status.target, synced()) == (keys[1], "C1", None)
        full = box.claim("w", batch_size=10)
        assert (full.key, full.ids, synced()) == (keys[2], [2], None)
        combined = box.claim("w", batch_size=10)
        assert combined.ids == [3, 4] and combined.key not in keys.values()
        assert synced() is not None  # the new key was made durable before the claim returned


def test_a_reclaim_makes_its_key_durable_before_it_is_sent_again(
    tmp_path: Path, clock: Clock
) -> None:
    """A claim that fixed a key may have been cut off before its fsync (a crash, a failed sync):
    whoever reclaims the batch fsyncs first, so the key it sends under is on disk."""
    with Outbox(tmp_path / "o.sqlite", clock=clock) as box:
        one_per_row(box, CODE, [{"id": 1}, {"id": 2}])
        syncs: list[int] = []
        box._sync = lambda: syncs.append(1)  # type: ignore[method-assign]
        first = box.claim("w1", batch_size=10, lease=30)
        assert syncs == [1]  # a new key
        clock.now += 31
        again = box.claim("w2", batch_size=10, lease=30)
        assert (again.key, again.attempt, syncs) == (first.key, 2, [1, 1])


def test_claims_reclaim_what_the_owner_no_longer_holds_before_anything_later(
    outbox: Outbox,
) -> None:
    one_per_row(outbox, CODE, [{"id": i} for i in range(3)])
    first, second = outbox.claim_many("w", 2, batch_size=1)
    # "w" still holds the first; the second was lost track of: it comes back before row 3
    [again] = outbox.claim_many("w", 1, batch_size=1, held={first.key})
    assert (again.key, again.attempt) == (second.key, 2)
    assert outbox.claim_many("w", 5, batch_size=1, held={first.key, second.key})[0].ids == [3]
    # without held (a caller that tracks nothing) its own leases never block it
    assert outbox.claim_many("w", 5, batch_size=1) == []


@pytest.mark.sqlite_only  # reads the file with sqlite3
def test_a_transaction_is_durable_unless_told_otherwise(outbox: Outbox) -> None:
    levels = []
    for durable in (True, False):
        with outbox.transaction(durable=durable):
            conn = outbox._local.transaction
            levels.append(conn.execute("PRAGMA synchronous").fetchone()[0])
    assert levels == [2, 1]  # FULL, NORMAL


def test_a_replayed_batch_goes_out_before_the_rows_of_its_target_still_waiting(
    outbox: Outbox,
) -> None:
    outbox.enqueue(CODE, [{"id": "old"}])
    dead = outbox.bury(outbox.claim("w"), "rejected (422)")
    outbox.enqueue(CODE, [{"id": "newer"}])  # waiting, unclaimed
    assert outbox.replay([dead]) == 1
    first = outbox.claim("w")
    assert first.joined == b'{"id":"old"}' and outbox.claim("other") is None  # target busy
    outbox.mark_delivered(first)
    assert outbox.claim("w").joined == b'{"id":"newer"}'


def test_cli_drain_follow_is_a_delivery_service_that_stops_cleanly_on_sigterm(
    tmp_path: Path, mock_platform: Any
) -> None:
    """`outbox drain --follow` in its own process delivers what this process enqueues, as it
    comes, and on SIGTERM finishes the batch in hand and exits 0."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from govconnect import ExchangeClient
    from govconnect.testing import DEFAULT_NODE

    ExchangeClient(
        mock_platform.url, token=mock_platform.token, node=DEFAULT_NODE, user_id="u"
    ).put_resource({"code": CODE, "version": 1})
    path = tmp_path / "o.sqlite"
    Outbox(path).close()
    env = {**os.environ, "GOVCONNECT_PLATFORM_TOKEN": mock_platform.token}
    service = subprocess.Popen(
        [sys.executable, "-m", "govconnect", "outbox", "drain", "--follow", "--poll", "0.05",
         "--url", mock_platform.url, "--node", DEFAULT_NODE, "--path", str(path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        with Outbox(path) as box:
            for n in range(3):  # each wave arrives while the service idles
                box.enqueue(CODE, [{"id": f"{n}-{i}"} for i in range(40)])
                deadline = time.monotonic() + 20
                while mock_platform.records_received.get(CODE, 0) < 40 * (n + 1):
                    assert time.monotonic() < deadline and service.poll() is None
                    time.sleep(0.02)
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=20)
    finally:
        if service.poll() is None:
            service.kill()
            service.communicate()
    assert service.returncode == 0, output
    assert "delivered 120 record(s)" in output and mock_platform.token not in output
    with Outbox(path) as box:
        assert box.pending() == 0 and box.status().in_flight == 0


@pytest.mark.sqlite_only  # reads the file with sqlite3
def test_a_durable_transaction_nested_in_a_relaxed_one_makes_it_durable(outbox: Outbox) -> None:
    def synced() -> Any:
        return (
            outbox._conn().execute("SELECT 1 FROM outbox_meta WHERE key = 'synced_at'").fetchone()
        )

    with outbox.transaction(durable=False):
        outbox.mark_delivered_many([])  # bookkeeping only
    assert synced() is None
    with outbox.transaction(durable=False), outbox.transaction():
        outbox.mark_delivered_many([])
    assert synced() is not None


def test_cli_follow_off_the_main_thread_needs_a_timeout(tmp_path: Path) -> None:
    import threading

    results: list[Any] = []
    args = ["drain", "--follow", "--url", "http://127.0.0.1:9", "--node", "1/2"]
    thread = threading.Thread(target=lambda: results.append(run(*args, "--token", "t")))
    thread.start()
    thread.join(10)
    assert results and results[0].exit_code == 2
    assert "needs --timeout" in " ".join(results[0].output.split())
