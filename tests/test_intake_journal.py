"""The intake journal on both outbox engines: claims that keep two intake processes (an HA pair)
off the same case, and the guard that rolls back a second report of a status."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from govconnect import IntakeJournal, Outbox
from govconnect.bridge.journal import AlreadyReported
from govconnect.bridge.report import CaseOutcome


@pytest.fixture
def outbox(outbox_at: str) -> Iterator[Outbox]:
    with Outbox(outbox_at) as box:
        yield box


def test_a_claim_keeps_the_other_process_off_until_it_ends_or_expires(outbox: Outbox) -> None:
    journal = IntakeJournal(outbox)
    assert journal.claim("C-1", "node-a", lease=60)
    assert not journal.claim("C-1", "node-b", lease=60)  # node a is working on it
    assert journal.claim("C-1", "node-a", lease=60)  # its own claim, renewed
    journal.release("C-1", "node-b")  # not node b's to give back
    assert not journal.claim("C-1", "node-b", lease=60)
    journal.release("C-1", "node-a")
    assert journal.claim("C-1", "node-b", lease=60)
    assert journal.claim("C-2", "node-a", lease=-1)  # a lease that already ran out (a crash)
    assert journal.claim("C-2", "node-b", lease=60)


def test_the_status_that_reports_a_case_ends_its_claim_and_is_never_queued_twice(
    outbox: Outbox,
) -> None:
    journal = IntakeJournal(outbox)
    outcome = CaseOutcome("C-1", "M", "written", reference="r")
    assert journal.claim("C-1", "node-a", lease=60)
    outbox.enqueue_status("C-1", "accepted", within=journal.recorder(outcome, "accepted"))
    assert journal.finished("C-1") == "written" and journal.status_sent("C-1", "accepted")
    assert journal.claim("C-1", "node-b", lease=60)  # the claim ended with the status
    with pytest.raises(AlreadyReported):  # the other node, late: its whole transaction is undone
        outbox.enqueue_status("C-1", "accepted", within=journal.recorder(outcome, "accepted"))
    with pytest.raises(AlreadyReported):
        outbox.enqueue_status("C-1", "accepted", within=journal.status_marker("C-1", "accepted"))
    assert outbox.pending() == 1
    outbox.enqueue_status("C-1", "completed", within=journal.status_marker("C-1", "completed"))
    assert outbox.pending() == 2


def test_attempts_bookmarks_and_malformed_elements(outbox: Outbox) -> None:
    from datetime import UTC, datetime

    journal = IntakeJournal(outbox)
    assert [journal.count_attempt("C-9") for _ in range(3)] == [1, 2, 3]
    assert journal.bookmark("household") is None
    moment = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
    journal.set_bookmark("household", moment)
    journal.set_bookmark("household", moment)
    assert journal.bookmark("household") == moment
    journal.record_malformed("abc", "no id")
    journal.record_malformed("abc", "no id")
    assert journal.malformed_known("abc") and not journal.malformed_known("def")
    again = IntakeJournal(outbox)  # opening again creates nothing twice
    assert again.count_attempt("C-9") == 4


def test_a_journal_file_of_an_earlier_release_gets_the_claims_table(tmp_path: object) -> None:
    import sqlite3
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    path = tmp_path / "outbox.sqlite"
    with sqlite3.connect(path) as conn:  # the tables as an earlier release left them
        conn.execute(
            "CREATE TABLE intake_cases (case_id TEXT PRIMARY KEY, matter_code TEXT NOT NULL,"
            " outcome TEXT NOT NULL, reference TEXT, problems TEXT NOT NULL,"
            " fields INTEGER NOT NULL, at REAL NOT NULL)"
        )
        conn.execute("INSERT INTO intake_cases VALUES ('C-1', 'M', 'written', NULL, '[]', 3, 0)")
    conn.close()
    with Outbox(path) as box:
        journal = IntakeJournal(box)
        assert journal.finished("C-1") == "written"
        assert journal.claim("C-2", "node-a", lease=60)


def test_the_journal_names_its_columns_so_a_later_release_may_add_some(outbox: Outbox) -> None:
    """Every insert names its columns: a table that gained a column (a later release's, with a
    default) does not break this release's writes, on either engine."""
    from govconnect.exchange.outbox.portable import execute

    tables = ["intake_cases", "intake_status_sent", "intake_bookmarks", "intake_attempts"]
    tables += ["intake_malformed", "intake_claims"]
    journal = IntakeJournal(outbox)

    def widen(conn: object) -> None:
        for table in tables:
            execute(conn, f"ALTER TABLE {table} ADD COLUMN later_release TEXT DEFAULT 'x'")

    outbox.write_state(widen)
    from datetime import UTC, datetime

    assert journal.claim("C-1", "node-a", lease=60)
    assert journal.count_attempt("C-1") == 1
    journal.record_malformed("abc", "no id")
    journal.set_bookmark("household", datetime(2026, 12, 1, tzinfo=UTC))
    outcome = CaseOutcome("C-1", "M", "written", reference="r")
    outbox.enqueue_status("C-1", "accepted", within=journal.recorder(outcome, "accepted"))
    outbox.enqueue_status("C-1", "completed", within=journal.status_marker("C-1", "completed"))
    assert journal.finished("C-1") == "written" and journal.status_sent("C-1", "completed")


_EARLIER_CASES = (
    "CREATE TABLE intake_cases (case_id TEXT PRIMARY KEY, matter_code TEXT NOT NULL,"
    " outcome TEXT NOT NULL, reference TEXT, problems TEXT NOT NULL,"
    " fields INTEGER NOT NULL, at double precision NOT NULL)"
)


def test_adding_columns_on_postgresql_gives_up_on_a_busy_table_with_a_retryable_error(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other node of an HA pair holds ``intake_cases`` (an open transaction): the upgrade's
    ``ALTER TABLE`` waits ``MIGRATION_LOCK_TIMEOUT`` at most, then says what to do; nothing is
    changed, and the next start, the table free, adds the columns."""
    from pathlib import Path

    from govconnect import RetryableError
    from govconnect.bridge import journal as journal_module
    from tests.outbox_support import outbox_location

    psycopg = pytest.importorskip("psycopg")
    assert isinstance(tmp_path, Path)
    monkeypatch.setattr(journal_module, "MIGRATION_LOCK_TIMEOUT", "200ms")
    with outbox_location("postgresql", tmp_path) as location, Outbox(location) as box:
        schema = location.rsplit("schema=", 1)[1]
        conninfo = location.split("?", 1)[0].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, options=f"-c search_path={schema}") as other:
            other.execute(_EARLIER_CASES)
            other.commit()
            other.execute("SELECT count(*) FROM intake_cases").fetchone()  # holds its lock
            with pytest.raises(RetryableError, match="upgrade every intake process of an HA pair"):
                IntakeJournal(box)
            other.rollback()
            journal = IntakeJournal(box)
        assert journal.entry("C-1") is None
        assert set(journal_module.AUTH_COLUMNS) <= journal._case_columns()
