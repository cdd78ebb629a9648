"""The transactional outbox in the legacy database: when a ``DatabaseSink``'s PostgreSQL database
also holds the outbox (a schema of its own there), the case row, the intake journal's entry and the
``accepted`` status commit in one transaction — all of it, or none of it. Anywhere else the bridge
falls back to two stores and says so; a sink that demands one transaction it cannot have is refused.

Real parts: the household connector's legacy tables and the outbox in the PostgreSQL server on
127.0.0.1 (tables and schema unique to each test), the mock platform on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from govconnect_household import create_sample_database, sample_cases

from govconnect import (
    ConfigurationError,
    DatabaseSink,
    DeliveryWorker,
    ExchangeClient,
    IntakeBridge,
    Outbox,
    RetryableError,
    RetryPolicy,
    load_registry,
)
from govconnect.bridge.report import CaseOutcome
from govconnect.testing import MockPlatform
from govconnect.testing._databases import database_url, unique_name
from tests.outbox_support import outbox_location

psycopg = pytest.importorskip("psycopg")

NODE = "11010500000/HJGL"
MATTER = "11010500000-HJ-0001"


class Legacy:
    """The household legacy tables (unique names) in the PostgreSQL test database."""

    def __init__(self, tmp_path: Path) -> None:
        self.url = database_url("postgresql", tmp_path)
        self.residents, self.applications = unique_name("tx_res"), unique_name("tx_app")
        create_sample_database(
            self.url, count=5, table=self.residents, applications_table=self.applications
        )
        self.engine = sa.create_engine(self.url)

    @property
    def settings(self) -> dict[str, str]:
        return {"url": self.url, "table": self.residents, "applications_table": self.applications}

    def case_ids(self) -> list[str]:
        with self.engine.connect() as conn:
            sql = f"SELECT sqbh FROM {self.applications} ORDER BY sqbh"
            return [r[0] for r in conn.execute(sa.text(sql))]

    def table(self) -> sa.Table:
        return sa.Table(self.applications, sa.MetaData(), autoload_with=self.engine)

    def drop(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.applications}, {self.residents}"))
        self.engine.dispose()


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[Legacy]:
    db = Legacy(tmp_path)
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture
def same_db_outbox(tmp_path: Path) -> Iterator[str]:
    """An outbox in a schema of the legacy database itself (the PostgreSQL test database)."""
    with outbox_location("postgresql", tmp_path) as location:
        yield location


def client_for(platform: MockPlatform) -> ExchangeClient:
    retry = RetryPolicy(max_attempts=8, deadline=30, initial=0.01, max_wait=0.05)
    return ExchangeClient(platform.url, token=platform.token, node=NODE, user_id="tx", retry=retry)


def bridge_for(legacy: Legacy, client: ExchangeClient, outbox: Outbox) -> IntakeBridge:
    registry = load_registry(config={"connectors": {"household": legacy.settings}})
    return IntakeBridge(registry, client, outbox, connectors=["household"])


def outbox_rows(outbox: Outbox) -> list[tuple[Any, ...]]:
    return outbox.read("SELECT operation, target FROM outbox ORDER BY id")


def journal_rows(outbox: Outbox) -> list[tuple[Any, ...]]:
    return outbox.read("SELECT case_id, outcome FROM intake_cases ORDER BY case_id")


# --- one transaction ---------------------------------------------------------------------------


def test_case_and_accepted_status_commit_together_end_to_end(
    legacy: Legacy, same_db_outbox: str, mock_platform: MockPlatform
) -> None:
    cases = list(sample_cases(6, seed=31, invalid=1))
    for case in cases:
        mock_platform.enqueue_case(case, node=NODE)
    with client_for(mock_platform) as client, Outbox(same_db_outbox) as outbox:
        bridge = bridge_for(legacy, client, outbox)
        try:
            modes = bridge.open_sinks()
            assert modes[MATTER].one_transaction, modes[MATTER]
            assert "holds the outbox" in modes[MATTER].reason
            report = bridge.run_once()
            assert (report.written, report.returned, report.deferred) == (5, 1, 0)
            DeliveryWorker(outbox, client, sleep=lambda s: None).drain(timeout=30)
            again = bridge.run_once()  # nothing new; a redelivery would be already_processed
            assert again.written == 0
            redelivered = bridge.process(cases[0])
        finally:
            bridge.close()
    written = sorted(o.case_id for o in report.outcomes if o.outcome == "written")
    assert legacy.case_ids() == written
    accepted = [i for i, s in mock_platform.case_statuses.items() if s[0]["status"] == "accepted"]
    assert len(accepted) == 5 and set(accepted) == set(legacy.case_ids())
    assert all(len(mock_platform.case_statuses[i]) == 1 for i in accepted)  # delivered once
    assert mock_platform.acknowledged_cases == {c["case_id"] for c in cases}
    assert redelivered.outcome == "already_processed"


class Boom(Exception):
    """Raised by the injected fault."""


def test_a_failure_after_the_status_rows_leaves_neither_the_case_nor_the_status(
    legacy: Legacy, same_db_outbox: str, mock_platform: MockPlatform
) -> None:
    """The fault strikes inside the enqueue, after its outbox and journal rows were written and
    before anything commits: the legacy row goes with them; the next round writes it once."""
    case = next(iter(sample_cases(1, seed=32)))
    mock_platform.enqueue_case(case, node=NODE)
    with client_for(mock_platform) as client, Outbox(same_db_outbox) as outbox:
        bridge = bridge_for(legacy, client, outbox)
        real = outbox._insert_rows
        seen: list[tuple[int, int]] = []

        def insert_then_fail(rows: Any, within: Any) -> Any:
            real(rows, within)
            conn = outbox._conn()  # the legacy connection, joined: everything is visible here
            (in_outbox,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
            (in_legacy,) = conn.execute(
                f"SELECT count(*) FROM public.{legacy.applications}"
            ).fetchone()
            seen.append((in_outbox, in_legacy))
            raise Boom("disk full, say")

        outbox._insert_rows = insert_then_fail  # type: ignore[method-assign]
        try:
            first = bridge.run_once()
            assert [o.outcome for o in first.outcomes] == ["deferred"]
            assert "status" in str(first.outcomes[0].problems[0])
            assert seen == [(1, 1)]  # both rows were written, in one transaction ...
            assert legacy.case_ids() == []  # ... and neither committed
            assert outbox_rows(outbox) == [] and journal_rows(outbox) == []
            assert mock_platform.acknowledged_cases == set()  # the platform hands it over again

            del outbox._insert_rows  # the fault is gone
            second = bridge.run_once()
            assert [o.outcome for o in second.outcomes] == ["written"]
            DeliveryWorker(outbox, client, sleep=lambda s: None).drain(timeout=30)
        finally:
            bridge.close()
    assert legacy.case_ids() == [case["case_id"]]
    assert [s["status"] for s in mock_platform.case_statuses[case["case_id"]]] == ["accepted"]


KILLED_NODE = f"""
import os, signal, sys
from govconnect import ExchangeClient, IntakeBridge, IntakeJournal, Outbox, load_registry
platform_url, token, location, settings, transactional = sys.argv[1:6]
import json
if transactional == "off":  # the connector's sink, declared with transactional=False
    import functools
    import govconnect_household.connector as household
    household.DatabaseSink = functools.partial(household.DatabaseSink, transactional=False)
registry = load_registry(config={{"connectors": {{"household": json.loads(settings)}}}})
real = IntakeJournal.recorder


def recorder(self, outcome, status):
    apply = real(self, outcome, status)

    def apply_then_die(conn):
        apply(conn)  # the journal rows, after the case row and the status row: then the kill
        print("dying", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    return apply_then_die


IntakeJournal.recorder = recorder
client = ExchangeClient(platform_url, token=token, node="{NODE}", user_id="tx")
with Outbox(location) as outbox:
    bridge = IntakeBridge(registry, client, outbox, connectors=["household"], claim_lease=0.2)
    print(json.dumps({{k: str(v) for k, v in bridge.open_sinks().items()}}), flush=True)
    bridge.run_once()
"""


@pytest.mark.parametrize("transactional", ["auto", "off"])
def test_a_process_killed_before_the_commit_leaves_nothing_and_the_case_comes_back(
    legacy: Legacy, same_db_outbox: str, mock_platform: MockPlatform, transactional: str
) -> None:
    """SIGKILL at the last moment before the status commits (case row, status row and journal
    rows all written): in one transaction the server rolls all of it back; the case is handed
    over again and the next process writes and reports it once. The same kill with two stores
    (``off``, the contrast) leaves the case row committed and unreported: the sink's idempotency
    then makes the redelivered case a "duplicate", reported once."""
    case = next(iter(sample_cases(1, seed=33)))
    mock_platform.enqueue_case(case, node=NODE)
    argv = [mock_platform.url, mock_platform.token, same_db_outbox, json.dumps(legacy.settings)]
    done = subprocess.run(
        [sys.executable, "-c", KILLED_NODE, *argv, transactional],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -9, done.stderr[-2000:]
    one = transactional == "auto"
    assert ("one transaction" if one else "two stores") in done.stdout and "dying" in done.stdout
    time.sleep(0.3)  # the dead process's claim on the case (a 0.2 s lease) runs out
    with client_for(mock_platform) as client, Outbox(same_db_outbox) as outbox:
        assert legacy.case_ids() == ([] if one else [case["case_id"]])
        assert outbox_rows(outbox) == [] and journal_rows(outbox) == []
        assert outbox.read("SELECT count(*) FROM intake_status_sent") == [(0,)]
        assert mock_platform.acknowledged_cases == set()
        bridge = bridge_for(legacy, client, outbox)
        try:
            report = bridge.run_once()
            DeliveryWorker(outbox, client, sleep=lambda s: None).drain(timeout=30)
        finally:
            bridge.close()
    assert [o.outcome for o in report.outcomes] == ["written" if one else "duplicate"]
    assert legacy.case_ids() == [case["case_id"]]
    assert [s["status"] for s in mock_platform.case_statuses[case["case_id"]]] == ["accepted"]
    assert mock_platform.acknowledged_cases == {case["case_id"]}


def test_a_case_the_other_node_reported_is_rolled_back_whole(
    legacy: Legacy, same_db_outbox: str, mock_platform: MockPlatform
) -> None:
    """The status guard (one row per case and status) refuses a second ``accepted``: in one
    transaction that also takes back this process's legacy row, so a keyless table gets none."""
    with client_for(mock_platform) as client, Outbox(same_db_outbox) as outbox:
        bridge = bridge_for(legacy, client, outbox)
        try:
            bridge.open_sinks()
            outbox.write_state(bridge.journal.status_marker("HJ-OTHER-1", "accepted"))
            case = next(iter(sample_cases(1, seed=34)))
            case["case_id"] = "HJ-OTHER-1"
            outcome = bridge.process(case)
        finally:
            bridge.close()
        assert outcome.outcome == "already_processed"
        assert legacy.case_ids() == [] and outbox_rows(outbox) == []


def test_two_processes_racing_on_a_keyless_table_leave_one_row(
    legacy: Legacy, same_db_outbox: str, mock_platform: MockPlatform
) -> None:
    """Claims off, no unique key on the case id: B inserts the case while A's transaction (case
    row, status, journal) is still open. B's status waits for A's commit, finds the case
    reported, and B's whole transaction — its legacy row too — is rolled back."""
    import threading

    with legacy.engine.begin() as conn:
        conn.execute(
            sa.text(f"ALTER TABLE {legacy.applications} DROP CONSTRAINT {legacy.applications}_pkey")
        )
    case = next(iter(sample_cases(1, seed=38)))
    with (
        client_for(mock_platform) as client,
        Outbox(same_db_outbox) as box_a,
        Outbox(same_db_outbox) as box_b,
    ):
        a, b = bridge_for(legacy, client, box_a), bridge_for(legacy, client, box_b)
        for bridge in (a, b):
            bridge.open_sinks()
            bridge.journal.claim = lambda *args: True  # type: ignore[method-assign]
        outcomes: dict[str, CaseOutcome] = {}
        waiters: list[int] = []
        racer = threading.Thread(target=lambda: outcomes.update(b=b.process(case)))
        real = a.journal.recorder

        def recorder(outcome: CaseOutcome, status: str) -> Any:
            apply = real(outcome, status)

            def apply_then_let_b_in(conn: Any) -> None:
                apply(conn)
                racer.start()
                for _ in range(100):  # until B waits for this transaction (at most 5 s)
                    (count,) = conn.execute(
                        "SELECT count(*) FROM pg_locks w WHERE NOT w.granted AND w.transactionid IN"
                        " (SELECT transactionid FROM pg_locks WHERE pid = pg_backend_pid()"
                        " AND locktype = 'transactionid' AND granted)"
                    ).fetchone()
                    if count:
                        waiters.append(count)
                        return
                    time.sleep(0.05)

            return apply_then_let_b_in

        a.journal.recorder = recorder  # type: ignore[method-assign]
        try:
            outcomes["a"] = a.process(case)
            racer.join(timeout=30)
        finally:
            a.close()
            b.close()
        assert waiters, "B never waited for A's transaction"
        assert (outcomes["a"].outcome, outcomes["b"].outcome) == ("written", "already_processed")
        assert legacy.case_ids() == [case["case_id"]]  # one row, though nothing keys the table
        assert len(outbox_rows(box_a)) == 1


# --- the fallback: two stores ------------------------------------------------------------------


def test_a_sqlite_outbox_falls_back_to_two_stores_and_says_so(
    legacy: Legacy, tmp_path: Path, mock_platform: MockPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    cases = list(sample_cases(3, seed=35))
    for case in cases:
        mock_platform.enqueue_case(case, node=NODE)
    caplog.set_level("INFO", logger="govconnect.bridge")
    with client_for(mock_platform) as client, Outbox(tmp_path / "outbox.sqlite") as outbox:
        bridge = bridge_for(legacy, client, outbox)
        try:
            mode = bridge.open_sinks()[MATTER]
            report = bridge.run_once()
            DeliveryWorker(outbox, client, sleep=lambda s: None).drain(timeout=30)
        finally:
            bridge.close()
    assert not mode.one_transaction and "SQLite file" in mode.reason
    assert f"intake matter {MATTER}: a case and its status commit in two stores" in caplog.text
    assert report.written == 3 and len(legacy.case_ids()) == 3
    assert all(
        [s["status"] for s in mock_platform.case_statuses[c["case_id"]]] == ["accepted"]
        for c in cases
    )


def test_other_legacy_databases_and_the_opt_out_keep_two_stores(
    legacy: Legacy, same_db_outbox: str, tmp_path: Path
) -> None:
    sqlite_engine = sa.create_engine(f"sqlite:///{tmp_path / 'legacy.sqlite'}")
    table = sa.Table("apps", sa.MetaData(), sa.Column("sqbh", sa.String(40), primary_key=True))
    table.create(sqlite_engine)
    with Outbox(same_db_outbox) as outbox:
        elsewhere = DatabaseSink(sqlite_engine, table, key="sqbh").bind_outbox(outbox)
        off = DatabaseSink(legacy.engine, legacy.table(), "sqbh", transactional=False)
        opted_out = off.bind_outbox(outbox)
        with pytest.raises(ConfigurationError, match="bind_outbox"):
            off.write("C-1", {}, then=lambda result: None)
    sqlite_engine.dispose()
    assert not elsewhere.one_transaction and "sqlite, not PostgreSQL" in elsewhere.reason
    assert not opted_out.one_transaction and "transactional=False" in opted_out.reason
    with pytest.raises(ValueError, match="transactional is True, False or 'auto'"):
        DatabaseSink(legacy.engine, legacy.table(), "sqbh", transactional="yes")  # type: ignore[arg-type]


def test_a_legacy_database_down_at_the_start_is_decided_at_a_later_case(
    same_db_outbox: str, legacy: Legacy
) -> None:
    """Unreachable when the mode is decided: not two stores for good, but retryable (the case
    is deferred, unacknowledged) and decided again when the sink is next opened."""
    down = sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test")
    with Outbox(same_db_outbox) as outbox:
        with pytest.raises(RetryableError, match="legacy database unavailable"):
            DatabaseSink(down, legacy.table(), "sqbh").bind_outbox(outbox)
        lost = psycopg.connect(legacy.url.replace("+psycopg", ""))
        lost.close()
        with pytest.raises(RetryableError, match="while checking the outbox"):
            outbox.can_join(lost)
    down.dispose()


class _Unreachable(DatabaseSink):
    """The household connector's sink with its legacy database down (nothing listens on port
    1), counting how often it is closed."""

    closed = 0

    def __init__(self, engine: sa.Engine, table: sa.Table, key: str) -> None:
        super().__init__(
            sa.create_engine("postgresql+psycopg://postgres@127.0.0.1:1/test"), table, key
        )

    def close(self) -> None:
        type(self).closed += 1
        super().close()


def test_a_sink_whose_database_is_down_is_closed_at_each_try(
    legacy: Legacy,
    same_db_outbox: str,
    mock_platform: MockPlatform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every round tries the sink again: each try's sink (its engine) is closed, none leak."""
    import govconnect_household.connector as household

    monkeypatch.setattr(household, "DatabaseSink", _Unreachable)
    monkeypatch.setattr(_Unreachable, "closed", 0)
    with client_for(mock_platform) as client, Outbox(same_db_outbox) as outbox:
        bridge = bridge_for(legacy, client, outbox)
        try:
            for _ in range(3):
                assert bridge.open_sinks() == {}
        finally:
            bridge.close()
    assert _Unreachable.closed == 3


# --- refused: one transaction demanded where there is none -------------------------------------


@pytest.fixture
def other_db_outbox(tmp_path: Path) -> Iterator[str]:
    """An outbox in the server's ``postgres`` database: same server, another database."""
    url = database_url("postgresql", tmp_path).rsplit("/", 1)[0] + "/postgres"
    schema = unique_name("gc_other")
    try:
        yield f"{url}?schema={schema}"
    finally:
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_transactional_true_on_another_database_is_refused_naming_the_setting(
    legacy: Legacy, other_db_outbox: str, tmp_path: Path
) -> None:
    sink = DatabaseSink(legacy.engine, legacy.table(), "sqbh", transactional=True)
    with Outbox(other_db_outbox) as outbox:
        with pytest.raises(ConfigurationError) as refused:
            sink.bind_outbox(outbox)
        auto = DatabaseSink(legacy.engine, legacy.table(), "sqbh").bind_outbox(outbox)
    message = str(refused.value)
    assert "DatabaseSink(transactional=True)" in message
    assert "not the one that holds the outbox" in message and "/postgres?schema=" in message
    assert "transactional='auto'" in message
    assert not auto.one_transaction and "not the one that holds the outbox" in auto.reason
    refusal = r"transactional=True.*SQLite file"
    with (
        Outbox(tmp_path / "outbox.sqlite") as file_outbox,
        pytest.raises(ConfigurationError, match=refusal),
    ):
        sink.bind_outbox(file_outbox)


class Demanding(DatabaseSink):
    """What a connector declares when it wants one transaction or nothing."""

    def __init__(self, engine: sa.Engine, table: sa.Table, key: str) -> None:
        super().__init__(engine, table, key, transactional=True)


def test_the_bridge_refuses_to_start_on_a_refused_sink(
    legacy: Legacy, tmp_path: Path, mock_platform: MockPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal stops the round before any case is touched (never a case returned to the
    citizen for a setup mistake)."""
    import govconnect_household.connector as household

    monkeypatch.setattr(household, "DatabaseSink", Demanding)
    mock_platform.enqueue_case(next(iter(sample_cases(1, seed=36))), node=NODE)
    with client_for(mock_platform) as client, Outbox(tmp_path / "outbox.sqlite") as outbox:
        bridge = bridge_for(legacy, client, outbox)
        try:
            with pytest.raises(ConfigurationError, match="DatabaseSink\\(transactional=True\\)"):
                bridge.run_once()
        finally:
            bridge.close()
    assert legacy.case_ids() == [] and mock_platform.acknowledged_cases == set()


# --- the grants the legacy role needs ----------------------------------------------------------


@pytest.fixture
def clerk_role(legacy: Legacy) -> Iterator[tuple[str, sa.Engine]]:
    """A login role of the legacy system's own, allowed its table and nothing of the outbox."""
    role = unique_name("tx_clerk")
    with legacy.engine.begin() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(sa.text(f"GRANT SELECT, INSERT, UPDATE ON {legacy.applications} TO {role}"))
    engine = sa.create_engine(legacy.url.replace("://postgres@", f"://{role}@"))
    try:
        yield role, engine
    finally:
        engine.dispose()
        with legacy.engine.begin() as conn:
            conn.execute(sa.text(f"DROP OWNED BY {role}"))
            conn.execute(sa.text(f"DROP ROLE {role}"))


_DOCUMENTED_GRANTS = """
DO $$ DECLARE t record; BEGIN
  FOR t IN SELECT relname, relkind FROM pg_class
           WHERE relnamespace = '{schema}'::regnamespace AND relname ~ '^(outbox|intake_)'
             AND relkind IN ('r', 'p', 'S') LOOP
    IF t.relkind = 'S' THEN
      EXECUTE format('GRANT USAGE ON SEQUENCE {schema}.%I TO {role}', t.relname);
    ELSE
      EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.%I TO {role}',
                     t.relname);
    END IF;
  END LOOP;
END $$
"""
# docs/deployment.md's statement (with its schema and role), as an operator runs it


def test_the_documented_grants_are_what_one_transaction_needs(
    legacy: Legacy, same_db_outbox: str, clerk_role: tuple[str, sa.Engine]
) -> None:
    """The outbox's and the journal's tables, and no others: an audit log or publishing state
    kept in the same schema (not recommended) asks for no grant to the legacy role."""
    role, engine = clerk_role
    schema = same_db_outbox.rsplit("schema=", 1)[1]
    with Outbox(same_db_outbox) as outbox:
        from govconnect import IntakeJournal

        IntakeJournal(outbox).close()  # the journal's tables, as the bridge creates them
        with legacy.engine.begin() as conn:  # another component's table in the same schema
            conn.execute(sa.text(f"CREATE TABLE {schema}.audit (seq bigserial PRIMARY KEY)"))
        sink = DatabaseSink(engine, legacy.table(), "sqbh")
        no_usage = sink.bind_outbox(outbox)
        with legacy.engine.begin() as conn:
            conn.execute(sa.text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
        no_tables = sink.bind_outbox(outbox)
        with legacy.engine.begin() as conn:
            conn.execute(sa.text(_DOCUMENTED_GRANTS.format(schema=schema, role=role)))
        granted = sink.bind_outbox(outbox)
        with legacy.engine.connect() as conn:
            audit_delete = conn.execute(
                sa.text(f"SELECT has_table_privilege('{role}', '{schema}.audit', 'DELETE')")
            ).scalar()
    assert not no_usage.one_transaction and f"no USAGE on schema {schema}" in no_usage.reason
    assert not no_tables.one_transaction and f"{role} lacks DELETE on {schema}." in no_tables.reason
    assert f"{schema}.audit" not in no_tables.reason
    assert granted.one_transaction, granted.reason
    assert audit_delete is False
    sink.close()


def test_joining_needs_a_transaction_in_progress(legacy: Legacy, same_db_outbox: str) -> None:
    with (
        Outbox(same_db_outbox) as outbox,
        legacy.engine.connect() as conn,
        pytest.raises(ConfigurationError, match="write the legacy row first"),
        outbox.joined(conn.connection.driver_connection),
    ):
        pass


# --- the command -------------------------------------------------------------------------------


def test_intake_run_reports_the_commit_mode(
    legacy: Legacy,
    same_db_outbox: str,
    mock_platform: MockPlatform,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from govconnect.cli import build

    for name, value in legacy.settings.items():
        monkeypatch.setenv(f"GOVCONNECT_HOUSEHOLD_{name.upper()}", value)
    mock_platform.enqueue_case(next(iter(sample_cases(1, seed=37))), node=NODE)
    args = ["intake", "run", "--once", "--connector", "household", "--url", mock_platform.url]
    args += ["--node", NODE, "--outbox", same_db_outbox]
    env = {"GOVCONNECT_PLATFORM_TOKEN": mock_platform.token}
    result = CliRunner().invoke(build(), [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["commit_modes"][MATTER]["one_transaction"] is True
    assert summary["written"] == 1 and summary["statuses_delivered"] == 1
    table = CliRunner().invoke(build(), args, env=env)
    assert table.exit_code == 0, table.output
    assert f"matter {MATTER}: case and status commit in one transaction" in table.output


def test_the_summary_counts_cases_left_to_the_other_process() -> None:
    from govconnect.bridge.report import IntakeReport
    from govconnect.cli._common import console
    from govconnect.cli.intake import print_report

    report = IntakeReport()
    for i in range(3):
        report.add(CaseOutcome(f"C-{i}", MATTER, "claimed_elsewhere"))
    with console.capture() as captured:
        print_report(report)
    line = next(x for x in captured.get().splitlines() if "other intake process" in x)
    assert line.rstrip(" │|").endswith("3")
