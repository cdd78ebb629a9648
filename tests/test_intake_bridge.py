"""The intake bridge end to end: a real mock platform on loopback, the household legacy database,
the durable outbox — cases reach the legacy system once, statuses flow back, bad cases are returned."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from govconnect_household import create_sample_database, process_applications, sample_cases

from govconnect import (
    Compute,
    DeliveryWorker,
    ExchangeClient,
    IntakeBridge,
    IntakeJournal,
    Outbox,
    RetryPolicy,
    load_registry,
)
from govconnect.exchange.outbox.portable import execute
from govconnect.testing import MockPlatform
from tests.outbox_support import ENGINES, outbox_location

NODE = "11010500000/HJGL"


class Rig:
    """Platform + legacy database + outbox + bridge, wired the way `govconnect intake run` is."""

    def __init__(
        self, platform: MockPlatform, tmp: Path, url: str | None = None, outbox: str | None = None
    ) -> None:
        self.platform = platform
        self.url = url or f"sqlite:///{tmp / 'legacy.sqlite'}"
        create_sample_database(self.url, count=20)
        self.registry = load_registry(config={"connectors": {"household": {"url": self.url}}})
        self.client = ExchangeClient(
            platform.url,
            token=platform.token,
            node=NODE,
            user_id="clerk-007",
            retry=RetryPolicy(max_attempts=8, deadline=30, initial=0.01, max_wait=0.05),
        )
        self.outbox = Outbox(outbox or tmp / "outbox.sqlite")
        self.journal = IntakeJournal(self.outbox)
        self.bridge = IntakeBridge(self.registry, self.client, self.outbox, self.journal)

    def submit(self, cases: list[dict[str, Any]]) -> None:
        for case in cases:
            self.platform.enqueue_case(case, node=NODE)

    def deliver(self) -> None:
        DeliveryWorker(self.outbox, self.client, sleep=lambda s: None).drain(timeout=60)

    def legacy_rows(self) -> list[Any]:
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text("SELECT * FROM hj_qrsq ORDER BY sqbh")))
        finally:
            engine.dispose()

    def close(self) -> None:
        self.bridge.close()
        self.journal.close()
        self.outbox.close()
        self.client.close()


@pytest.fixture(params=ENGINES)
def rig(
    request: pytest.FixtureRequest, mock_platform: MockPlatform, tmp_path: Path
) -> Iterator[Rig]:
    """The rig with its outbox (and so its intake journal) on each engine in turn."""
    with outbox_location(request.param, tmp_path) as location:
        r = Rig(mock_platform, tmp_path, outbox=location)
        yield r
        r.close()


def statuses(platform: MockPlatform, case_id: str) -> list[str]:
    return [s["status"] for s in platform.case_statuses.get(case_id, [])]


def test_valid_cases_are_written_once_and_accepted(rig: Rig) -> None:
    cases = list(sample_cases(12, seed=1))
    rig.submit(cases)
    report = rig.bridge.run_once(limit=5)
    assert (report.pulled, report.written, report.returned) == (12, 12, 0)
    assert report.fields_filled == 12 * 17
    rows = rig.legacy_rows()
    assert [r.sqbh for r in rows] == [c["case_id"] for c in cases]
    first = rows[0]
    assert first.xm == cases[0]["applicant"]["name"]
    assert first.xb in ("1", "2") and first.csrq == cases[0]["form"]["birth_date"].replace("-", "")
    assert first.zzhm.startswith("HKB") and first.clzs == 2 and first.ly == "一窗受理"
    rig.deliver()
    assert rig.platform.acknowledged_cases == {c["case_id"] for c in cases}
    for case in cases:
        assert statuses(rig.platform, case["case_id"]) == ["accepted"]


def test_invalid_cases_are_returned_with_reasons_and_block_nothing(rig: Rig) -> None:
    cases = list(sample_cases(10, seed=2, invalid=5))
    rig.submit(cases)
    report = rig.bridge.run_once()
    assert (report.written, report.returned) == (5, 5)
    rig.deliver()
    returned = {o.case_id: o for o in report.outcomes if o.outcome == "returned"}
    rules = {p.rule for o in returned.values() for p in o.problems}
    assert {"citizen_id.check_digit", "date", "code_table", "required", "matter.unknown"} <= rules
    for case_id, outcome in returned.items():
        (posted,) = rig.platform.case_statuses[case_id]
        assert posted["status"] == "returned"
        assert posted["reasons"] == [str(p) for p in outcome.problems]
        assert posted["result"]["problems"][0]["field"] == outcome.problems[0].field
    assert len(rig.legacy_rows()) == 5  # nothing half-written for the returned ones
    assert rig.platform.acknowledged_cases == {c["case_id"] for c in cases}


def test_redelivered_case_is_not_written_or_reported_twice(rig: Rig) -> None:
    cases = list(sample_cases(3, seed=3))
    rig.submit(cases)
    rig.bridge.run_once()
    again = rig.bridge.process(cases[0])
    assert again.outcome == "already_processed"
    fresh = IntakeBridge(rig.registry, rig.client, rig.outbox, IntakeJournal(rig.outbox))
    assert fresh.process(cases[1]).outcome == "already_processed"
    rig.deliver()
    assert len(rig.legacy_rows()) == 3
    assert all(statuses(rig.platform, c["case_id"]) == ["accepted"] for c in cases)


def test_lost_journal_still_never_duplicates_the_legacy_record(rig: Rig, tmp_path: Path) -> None:
    (case,) = sample_cases(1, seed=4)
    rig.submit([case])
    rig.bridge.run_once()

    def lose_journal(conn: Any) -> None:
        execute(conn, "DELETE FROM intake_cases")
        execute(conn, "DELETE FROM intake_status_sent")

    rig.outbox.write_state(lose_journal)
    assert rig.bridge.process(case).outcome == "duplicate"  # the sink's key, not the journal
    assert len(rig.legacy_rows()) == 1


def test_the_journal_lives_in_the_outbox_file(rig: Rig, tmp_path: Path) -> None:
    from govconnect import ConfigurationError

    with pytest.raises(ConfigurationError, match="outbox file"):
        IntakeBridge(
            rig.registry, rig.client, rig.outbox, IntakeJournal(tmp_path / "elsewhere.sqlite")
        )


def test_a_failed_status_write_leaves_the_case_unfinished(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    (case,) = sample_cases(1, seed=15)
    rig.submit([case])
    real = rig.outbox.enqueue_status

    def disk_full(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(rig.outbox, "enqueue_status", disk_full)
    failed = rig.bridge.run_once()  # the round goes on: the case is deferred, not the round aborted
    assert (failed.deferred, failed.written) == (1, 0)
    assert failed.outcomes[0].problems[0].rule == "outbox"
    assert rig.journal.finished(case["case_id"]) is None  # not journaled without its status
    assert rig.platform.acknowledged_cases == set()
    monkeypatch.setattr(rig.outbox, "enqueue_status", real)
    report = rig.bridge.run_once()
    assert report.duplicates == 1  # written the first time; reported now, once
    rig.deliver()
    assert statuses(rig.platform, case["case_id"]) == ["accepted"]


def test_legacy_database_down_defers_without_acknowledging(
    mock_platform: MockPlatform, tmp_path: Path
) -> None:
    rig = Rig(mock_platform, tmp_path)
    try:
        cases = list(sample_cases(2, seed=5))
        rig.submit(cases)
        Path(rig.url.removeprefix("sqlite:///")).unlink()
        Path(rig.url.removeprefix("sqlite:///")).mkdir()  # the database file is now unusable
        report = rig.bridge.run_once()
        assert report.deferred == 2 and report.written == 0
        assert rig.platform.acknowledged_cases == set()
    finally:
        rig.close()


def test_a_crashing_hook_returns_only_its_case(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = list(sample_cases(3, seed=6))
    handler = rig.bridge.handlers["11010500000-HJ-0001"]

    def explode_for_second(case: Any) -> int:
        if case.case_id == cases[1]["case_id"]:
            raise RuntimeError("hook bug")
        return len(case.materials)

    monkeypatch.setitem(handler.mapping, "clzs", Compute(explode_for_second))  # type: ignore[index]
    rig.submit(cases)
    report = rig.bridge.run_once()
    assert (report.written, report.returned) == (2, 1)
    (bad,) = [o for o in report.outcomes if o.outcome == "returned"]
    assert bad.case_id == cases[1]["case_id"]
    assert (bad.problems[0].rule, bad.problems[0].message.split(" (")[0]) == (
        "compute",
        "RuntimeError: hook bug",
    )


def test_legacy_status_changes_flow_back_once(rig: Rig) -> None:
    cases = list(sample_cases(6, seed=7))
    rig.submit(cases)
    rig.bridge.run_once()
    done = process_applications(rig.url, in_progress=1, completed=3, returned=1)
    assert done == {"in_progress": 1, "completed": 3, "returned": 1}
    assert rig.bridge.poll_statuses() == 5
    assert rig.bridge.poll_statuses() == 0  # bookmark and journal: nothing twice
    rig.deliver()
    finals = [statuses(rig.platform, c["case_id"]) for c in cases]
    assert sorted(f[-1] for f in finals) == sorted(
        ["accepted", "in_progress", "completed", "completed", "completed", "returned"]
    )
    completed = [
        rig.platform.case_statuses[c["case_id"]][-1]
        for c in cases
        if statuses(rig.platform, c["case_id"])[-1] == "completed"
    ]
    assert all(s["result"]["permit_no"].startswith("ZQ") for s in completed)


def test_statuses_survive_a_flaky_platform(mock_platform: MockPlatform, tmp_path: Path) -> None:
    mock_platform.set_faults("flaky")
    rig = Rig(mock_platform, tmp_path)
    try:
        cases = list(sample_cases(30, seed=8, invalid=6))
        rig.submit(cases)
        report = rig.bridge.run_once(limit=10)
        rig.deliver()
        assert report.written + report.returned == 30
        assert rig.platform.acknowledged_cases == {c["case_id"] for c in cases}
        assert all(len(statuses(rig.platform, c["case_id"])) == 1 for c in cases)
    finally:
        rig.close()


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_intake_into_server_databases(
    mock_platform: MockPlatform, tmp_path: Path, backend: str
) -> None:
    from govconnect.testing._databases import database_url

    url = database_url(backend, tmp_path)
    rig = Rig(mock_platform, tmp_path, url=url)
    try:
        cases = list(sample_cases(5, seed=9, invalid=1))
        rig.submit(cases)
        report = rig.bridge.run_once()
        assert (report.written, report.returned) == (4, 1)
        assert len(rig.legacy_rows()) == 4
        assert rig.bridge.process(cases[0]).outcome == "already_processed"
    finally:
        rig.close()


def intake_cli(
    platform: MockPlatform,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    residents: int = 10,
    outbox: str | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Arguments and environment of ``govconnect intake run --once`` against ``platform``, with a
    fresh sample household database (and the outbox at ``outbox``, else a file)."""
    url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    create_sample_database(url, count=residents)
    monkeypatch.setenv("GOVCONNECT_HOUSEHOLD_URL", url)
    args = ["intake", "run", "--once", "--connector", "household", "--url", platform.url]
    args += ["--node", NODE, "--outbox", outbox or str(tmp_path / "o.sqlite")]
    return args, {"GOVCONNECT_PLATFORM_TOKEN": platform.token}


def test_intake_run_command(
    mock_platform: MockPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, outbox_at: str
) -> None:
    """``govconnect intake run`` with its outbox and journal in a file or in PostgreSQL."""
    import json

    from typer.testing import CliRunner

    from govconnect.cli import build

    args, env = intake_cli(mock_platform, tmp_path, monkeypatch, outbox=outbox_at)
    cases = list(sample_cases(8, seed=12, invalid=2))
    for case in cases:
        mock_platform.enqueue_case(case, node=NODE)
    result = CliRunner().invoke(build(), [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["pulled"], summary["written"], summary["returned"]) == (8, 6, 2)
    assert summary["statuses_delivered"] == 8
    assert len(summary["returned_reasons"]) == 2
    again = CliRunner().invoke(build(), [*args, "--json"], env=env)
    assert json.loads(again.output)["pulled"] == 0

    table = CliRunner().invoke(build(), args, env=env)
    assert table.exit_code == 0 and "Intake summary" in table.output


def test_intake_run_as_a_service_stops_cleanly_on_sigterm(
    mock_platform: MockPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``intake run`` without ``--once`` polls until systemd stops it: SIGTERM ends the wait
    between rounds, the summary is printed, and the exit is 0 (not a kill mid-case)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    args, env = intake_cli(mock_platform, tmp_path, monkeypatch)
    args = [a for a in args if a != "--once"] + ["--interval", "60"]
    for case in sample_cases(3, seed=5):
        mock_platform.enqueue_case(case, node=NODE)
    service = subprocess.Popen(
        [sys.executable, "-m", "govconnect", *args],
        env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(mock_platform.acknowledged_cases) < 3:  # the first round is done
            assert time.monotonic() < deadline and service.poll() is None
            time.sleep(0.05)
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=20)  # not the 60 s interval
    finally:
        if service.poll() is None:
            service.kill()
            service.communicate()
    assert service.returncode == 0, output
    assert "stopped (SIGTERM or Ctrl-C) after the round in hand" in output
    assert "Intake summary" in output and "Traceback" not in output


def test_intake_run_needs_platform_settings() -> None:
    from typer.testing import CliRunner

    from govconnect.cli import build

    result = CliRunner().invoke(
        build(), ["intake", "run", "--once"], env={"GOVCONNECT_PLATFORM_URL": ""}
    )
    assert result.exit_code == 2


class FlakySink:
    """Wraps a sink: some cases hit a legacy outage, some hit a bug on our side."""

    def __init__(self, inner: Any, down: set[str], broken: set[str]) -> None:
        self.inner, self.down, self.broken = inner, down, broken

    def write(self, case_id: str, values: Any) -> Any:
        from govconnect import RetryableError

        if case_id in self.down:
            raise RetryableError("legacy system busy")
        if case_id in self.broken:
            raise KeyError(f"bug while writing {values['gmsfhm']}")
        return self.inner.write(case_id, values)

    def close(self) -> None:
        self.inner.close()


def flaky(rig: Rig, down: set[str], broken: set[str]) -> None:
    handler = rig.bridge.handlers["11010500000-HJ-0001"]
    sink = rig.bridge._sink(handler)
    rig.bridge._sinks[handler.matter_code] = FlakySink(sink, down, broken)  # type: ignore[assignment]


def test_deferred_cases_do_not_hide_the_cases_behind_them(rig: Rig) -> None:
    cases = list(sample_cases(12, seed=13))
    rig.submit(cases)
    flaky(rig, down={c["case_id"] for c in cases[:5]}, broken=set())
    report = rig.bridge.run_once(limit=5)  # the first pull is all deferred cases
    assert (report.deferred, report.written) == (5, 7)
    assert rig.platform.acknowledged_cases == {c["case_id"] for c in cases[5:]}


def test_our_own_failure_defers_then_returns_without_leaking_the_id(rig: Rig) -> None:
    (case,) = sample_cases(1, seed=14)
    rig.submit([case])
    flaky(rig, down=set(), broken={case["case_id"]})
    outcomes = [rig.bridge.run_once().outcomes[0].outcome for _ in range(rig.bridge.max_attempts)]
    assert outcomes == ["deferred", "deferred", "returned"]
    rig.deliver()
    (posted,) = rig.platform.case_statuses[case["case_id"]]
    assert posted["status"] == "returned"
    assert "KeyError" in posted["reasons"][0]
    assert case["applicant"]["citizen_id"] not in json.dumps(posted, ensure_ascii=False)


def test_an_unreachable_postgres_outbox_is_named_without_its_password(
    mock_platform: MockPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from govconnect.cli import build

    location = "postgresql://clerk:s3cret@127.0.0.1:1/test?schema=gc_nowhere"
    args, env = intake_cli(mock_platform, tmp_path, monkeypatch, outbox=location)
    result = CliRunner().invoke(build(), args, env=env)
    assert result.exit_code == 1, result.output
    assert "cannot open the outbox at postgresql://clerk@127.0.0.1:1/test" in result.output
    assert "s3cret" not in result.output and "Traceback" not in result.output
