"""Publishing a dataset twice at once, and key ranges the source does not honour: the run lock
refuses a second publication of a dataset (on both engines, released when its holder is killed),
a range's bookmark never lands on a range cut anew, a key read outside its range fails the range
and deletes nothing, and the progress bar runs no thread while workers are forked."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from govconnect import (
    Connector,
    Department,
    GovConnectError,
    LegacySystem,
    Level,
    Outbox,
    Record,
    dataset,
    field,
    hookimpl,
    load_registry,
)
from govconnect.publish.lock import run_lock
from govconnect.publish.partitions import KeyOutsideRangeError, plan_ranges
from govconnect.publish.run import Run
from tests.outbox_support import ENGINES, outbox_location
from tests.test_publish_workers import (
    CHANGES,
    ITEMS,
    META,
    ROWS,
    Env,
    RangedPlugin,
    RangedSettings,
    make_legacy,
)

WORDS = "211112001/0031"

HOLD = """
import sys, time
from govconnect import Outbox
from govconnect.publish.lock import run_lock
from govconnect.publish.state import PublishState
outbox = Outbox(sys.argv[1])
PublishState(outbox)
with run_lock(outbox, sys.argv[2]):
    print("held", flush=True)
    time.sleep(120)
"""
"""Another process publishing a dataset: holds its run lock until killed."""


@pytest.fixture(params=ENGINES)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    legacy = make_legacy(tmp_path / "legacy.sqlite")
    with outbox_location(request.param, tmp_path) as location:
        e = Env(tmp_path, location, legacy)
        e.location = location  # type: ignore[attr-defined]
        yield e
        e.close()


def test_a_second_publication_is_refused_until_the_first_ends_even_by_kill_9(env: Env) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, env.location, ITEMS],  # type: ignore[attr-defined]
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        refused = rf"another publish of {re.escape(ITEMS)} is running \(since .+ UTC, process"
        for partitions in (1, 3):  # one worker or many: the same hazard, the same lock
            with pytest.raises(GovConnectError, match=rf"{refused} {holder.pid} on "):
                env.publisher.publish(ITEMS, partitions=partitions)
        assert env.outbox.pending() == 0 and env.ranges(ITEMS) == []  # nothing was started
        assert env.publisher.publish(CHANGES, partitions=2).read == ROWS  # only ITEMS is held
    finally:
        holder.kill()  # SIGKILL: no clean-up of its own
        holder.wait()
    deadline = time.monotonic() + 10  # PostgreSQL ends the dead client's session promptly
    while True:
        try:
            report = env.publisher.publish(ITEMS, partitions=3)
            break
        except GovConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert report.published == ROWS
    assert env.outbox.read("SELECT * FROM publish_locks") == []  # the note goes with the lock
    with run_lock(env.outbox, ITEMS):  # released after the run: taken again at once
        pass


def test_a_range_bookmark_never_lands_on_a_range_cut_anew(env: Env) -> None:
    """Run A (3 ranges) is mid-run when run B re-cuts the plan into 2: A's range 2 [401, 801)
    must not move B's range 2 [601, …) — that would skip B's keys 601..A's bookmark."""
    env.publisher.publish(CHANGES, partitions=3)
    pub, svc = env.publisher, env.publisher.resolve(CHANGES)
    ours = plan_ranges(env.registry, pub.state, svc, 3)  # A's plan (the stored one)
    plan_ranges(env.registry, pub.state, svc, 2)  # B cuts anew
    before, queued = env.ranges(CHANGES), env.outbox.pending()
    env.sql("UPDATE items SET updated = 50000 WHERE id = 500")  # A's range 2 reads it
    with (
        env.registry.connector("ranged", None) as connector,
        pytest.raises(GovConnectError, match=r"cut anew while key range 2 of 3 \[401, 801\)"),
    ):
        Run(pub, svc, connector, full=False, since=None, on_batch=None, scope=ours[1]).go()
    assert env.ranges(CHANGES) == before  # B's bookmarks untouched
    assert env.outbox.pending() == queued  # and A's batch rolled back with its bookmark


class Word(Record):
    id: str = field("编号", level=Level.PUBLIC, max_length=20)
    name: str = field("名称", level=Level.PUBLIC, max_length=50)


class WordParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_from: str | None = None
    key_to: str | None = None


class NoCase(Connector):
    """Text keys in a case-insensitive collation: the database orders A, b, C, d; Python
    orders A, C, b, d."""

    name = "nocase"
    department = Department(code="D6", name="部门")
    system = LegacySystem(code="S6", name="系统")
    Settings = RangedSettings

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        self.db = sqlite3.connect(self.settings.path)

    def close(self) -> None:
        self.db.close()

    def halves(self, parts: int) -> list[str]:
        (count,) = self.db.execute("SELECT COUNT(*) FROM words").fetchone()
        return [
            self.db.execute(
                "SELECT id FROM words ORDER BY id LIMIT 1 OFFSET ?", (count * i // parts,)
            ).fetchone()[0]
            for i in range(1, parts)
        ]

    @dataset(code=WORDS, name="词", split="halves", **META)
    def words(self, params: WordParams) -> Iterator[Word]:
        sql, args = "SELECT id, name FROM words WHERE 1 = 1", []
        for cond, value in (("id >= ?", params.key_from), ("id < ?", params.key_to)):
            if value is not None:
                sql, args = f"{sql} AND {cond}", [*args, value]
        for key, name in self.db.execute(f"{sql} ORDER BY id", args):
            yield Word(id=key, name=name)


class NoCasePlugin:
    __name__ = "nocase_plugin"

    @hookimpl
    def register_connectors(self) -> list[type[Connector]]:
        return [NoCase]


def test_a_key_read_outside_its_range_fails_the_range_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    legacy = tmp_path / "words.sqlite"
    with sqlite3.connect(legacy) as db:
        db.execute("CREATE TABLE words (id TEXT PRIMARY KEY COLLATE NOCASE, name TEXT)")
        db.executemany(
            "INSERT INTO words VALUES (?, ?)",
            [(f"{p}{i:03d}", "词") for p in "AbCd" for i in range(50)],
        )
    registry = load_registry(
        config={"connectors": {"nocase": {"path": str(legacy)}}}, plugins=[NoCasePlugin()]
    )
    from govconnect import Publisher

    with Outbox(tmp_path / "outbox.sqlite") as outbox:
        publisher = Publisher(registry, outbox, batch_size=20, rejects_dir=tmp_path / "rejects")
        assert publisher.publish(WORDS).published == 200  # every key fingerprinted
        # range 1 (database: A…, b…) reads b000, which Python puts in range 2 ["C000", …);
        # range 2 finishes, and its tombstones would have deleted the 50 live b… records
        with pytest.raises(KeyOutsideRangeError) as info:
            publisher.publish(WORDS, partitions=2)
        message = str(info.value)
        assert f"publishing {WORDS}, key range 1 of 2 […, C000)" in message
        assert "returned id 'b000'" in message and "str keys must sort" in message
        assert "binary collation" in message
        assert outbox.pending() == 200  # no tombstone queued
        assert publisher.state.last_run(WORDS)[0] == 1  # the failed run is not recorded
        publisher.close()


def test_workers_are_forked_with_no_progress_thread_and_the_bar_still_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import multiprocessing.context

    from rich.live import _RefreshThread
    from rich.progress import Progress
    from typer.testing import CliRunner

    from govconnect.cli import build

    legacy = make_legacy(tmp_path / "legacy.sqlite")
    registry = load_registry(
        config={"connectors": {"ranged": {"path": str(legacy)}}}, plugins=[RangedPlugin()]
    )
    monkeypatch.setattr("govconnect.cli.publish.registry", lambda ctx: registry)
    threads_at_fork: list[list[threading.Thread]] = []
    fork_start = multiprocessing.context.ForkProcess.start

    def start(self: Any) -> None:
        threads_at_fork.append(threading.enumerate())
        fork_start(self)

    monkeypatch.setattr(multiprocessing.context.ForkProcess, "start", start)
    redraws = [0]
    refresh = Progress.refresh

    def counted(self: Progress) -> None:
        redraws[0] += 1
        refresh(self)

    monkeypatch.setattr(Progress, "refresh", counted)
    outbox = str(tmp_path / "o.sqlite")
    base = ["publish", ITEMS, "--outbox", outbox, "--workers", "3", "--batch-size", "50"]
    ran = CliRunner().invoke(build(), base)
    assert ran.exit_code == 0, ran.output
    assert len(threads_at_fork) == 3
    assert not [t for ts in threads_at_fork for t in ts if isinstance(t, _RefreshThread)]
    assert redraws[0] >= 2  # add_task's, then at least one as the workers' reports came in

    with Outbox(outbox) as other, run_lock(other, ITEMS):  # an overlapping run: exit 1
        again = CliRunner().invoke(build(), base)
    assert again.exit_code == 1
    assert f"another publish of {ITEMS} is running" in again.output
    assert "Traceback" not in again.output
