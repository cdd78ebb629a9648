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
from govconnect.cli import outbox as outbox_cli

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


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock, events: list[ExchangeEvent]) -> Outbox:
    with Outbox(tmp_path / "outbox.sqlite", clock=clock, on_event=events.append) as box:
        yield box


def test_enqueue_is_committed_before_it_returns(outbox: Outbox) -> None:
    ids = outbox.enqueue(CODE, [{"id": i} for i in range(5)], user_id="u1", case_id="C1")
    assert list(ids) == [1, 2, 3, 4, 5]
    other = sqlite3.connect(outbox.path)
    assert other.execute("SELECT count(*) FROM outbox").fetchone()[0] == 5
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    assert list(outbox.enqueue(CODE, iter([{"id": 9}]))) == [6]
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
        ([{"id": 1}, {"op": "delete"}], "records[1].id", "required"),
        ([{"when": object()}], "records[0]", "json"),
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


def test_claim_batches_by_target_and_trace(outbox: Outbox) -> None:
    outbox.enqueue(CODE, [{"id": i} for i in range(5)], user_id="u1")
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
    outbox.enqueue(CODE, [{"id": i} for i in range(4)])
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
    assert (again.key, len(again.ids), again.attempt) == (batch.key, 2, 1)
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


def test_cli_status_dead_retry_purge(tmp_path: Path) -> None:
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


def test_cli_drain_delivers_with_progress(tmp_path: Path, mock_platform: Any) -> None:
    from govconnect import ExchangeClient
    from govconnect.testing import DEFAULT_NODE

    client = ExchangeClient(
        mock_platform.url, token=mock_platform.token, node=DEFAULT_NODE, user_id="u"
    )
    client.put_resource({"code": CODE, "version": 1})
    path = str(tmp_path / "o.sqlite")
    with Outbox(path) as box:
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


def test_scans_jump_dense_batches_but_not_interleaved_ones(outbox: Outbox) -> None:
    outbox.enqueue(CODE, [{"id": i} for i in range(4)])  # ids 1-4
    outbox.enqueue(OTHER, [{"id": 5}])  # id 5
    outbox.enqueue(CODE, [{"id": 6}, {"id": 7}])  # ids 6-7
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


def test_claims_join_payloads_in_id_order_and_fall_back_if_sqlite_did_not(
    outbox: Outbox,
) -> None:
    from govconnect._outbox_claims import _read

    records = [{"id": i, "name": f"张三, 第{i}号", "note": 'a "quoted", b'} for i in range(5)]
    outbox.enqueue(CODE, records)
    batch = outbox.claim("w")
    assert orjson.loads(b"[" + batch.joined + b"]") == records

    class Shuffled:
        """A connection whose aggregate read comes back out of order, as SQLite may in theory."""

        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def execute(self, sql: str, params: Any = ()) -> Any:
            cursor = self.conn.execute(sql, params)
            if "group_concat" not in sql:
                return cursor
            _, joined, created = cursor.fetchone()
            return type("Row", (), {"fetchone": lambda self: ("2,1,3,4,5", joined, created)})()

    ids, joined, _ = _read(Shuffled(outbox._conn()), "publish", CODE, 1, 5)
    assert ids == [1, 2, 3, 4, 5]
    assert orjson.loads(b"[" + joined + b"]") == records


def test_a_batch_whose_ids_come_back_out_of_order_is_read_again_row_by_row(
    outbox: Outbox,
) -> None:
    from govconnect._outbox_claims import _read_batch

    records = [{"id": i, "name": f"张三, 第{i}号"} for i in range(5)]
    outbox.enqueue(CODE, records)
    outbox.enqueue("111112001/2002", [{"id": 99}])  # another target: ids no longer all one run

    class Shuffled:
        """A connection whose one-pass batch read joins out of order, as SQLite may in theory."""

        def __init__(self, conn: sqlite3.Connection) -> None:
            self.conn = conn

        def execute(self, sql: str, params: Any = ()) -> Any:
            cursor = self.conn.execute(sql, params)
            if "group_concat(id - ?)" not in sql:
                return cursor
            count, _, joined, created, mismatch = cursor.fetchone()
            row = (count, "1,0,2,3,4", joined, created, mismatch)
            return type("Row", (), {"fetchone": lambda self: row})()

    head = (1, "publish", CODE, None, None)
    ids, joined, _ = _read_batch(Shuffled(outbox._conn()), head, 500)
    assert ids == [1, 2, 3, 4, 5]
    assert orjson.loads(b"[" + joined + b"]") == records
    ids, joined, _ = _read_batch(outbox._conn(), head, 500)  # the usual path: no parsing
    assert ids == [1, 2, 3, 4, 5]
    assert orjson.loads(b"[" + joined + b"]") == records
