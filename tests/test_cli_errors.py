"""Legacy failures and unconfigured connectors, as a user meets them through the real command.

A connector or driver exception is one line naming connector, service and the exception's class
(exit 1, no traceback unless ``-v``, no message text that could carry a password or a value); an
installed connector nobody configured is named, skipped by ``--all``, and nothing is created for
it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .cli_support import files_under, govconnect

REFUSED = "postgresql+psycopg://hj:Url-Pass-4417@127.0.0.1:1/hj"
"""A database URL whose port refuses connections (and whose password must never be printed)."""


def test_publish_all_in_an_empty_folder_skips_unconfigured_connectors(tmp_path: Path) -> None:
    ran = govconnect("publish", "--all", cwd=tmp_path)
    assert ran.code == 0, ran.output
    assert "Traceback" not in ran.output
    assert "skipped household: installed but not configured" in ran.err
    assert "nothing to publish" in ran.out
    assert files_under(tmp_path) == []  # no outbox, no empty household.sqlite


def test_publishing_an_unconfigured_connectors_dataset_is_refused(tmp_path: Path) -> None:
    ran = govconnect("publish", "111112001/0002", cwd=tmp_path)
    assert ran.code == 1
    assert "Traceback" not in ran.output
    assert "connector 'household' is installed but not configured" in ran.err
    assert "GOVCONNECT_HOUSEHOLD_URL" in ran.err
    assert files_under(tmp_path) == []


def test_a_missing_table_is_one_line(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "legacy.sqlite").close()  # a database without hj_resident
    env = {"GOVCONNECT_HOUSEHOLD_URL": f"sqlite:///{tmp_path / 'legacy.sqlite'}"}
    ran = govconnect("publish", "111112001/0002", "--outbox", "o.sqlite", cwd=tmp_path, env=env)
    assert ran.code == 1
    assert "Traceback" not in ran.output
    (line,) = ran.err.strip().splitlines()
    assert line.startswith("111112001/0002 failed: household.count_residents failed")
    assert "sqlalchemy.exc.OperationalError (sqlite3.OperationalError)" in line
    assert "hj_resident" not in line  # no SQL, no values: the class says what failed


def test_a_missing_sqlite_file_is_not_created(tmp_path: Path) -> None:
    env = {"GOVCONNECT_HOUSEHOLD_URL": "sqlite:///absent.sqlite"}
    ran = govconnect("publish", "--all", "--connector", "household", cwd=tmp_path, env=env)
    assert ran.code == 1
    assert "Traceback" not in ran.output
    assert "household database file 'absent.sqlite' does not exist" in ran.err
    assert not (tmp_path / "absent.sqlite").exists()


def test_a_refused_database_port_is_one_line_per_dataset_and_v_adds_the_traceback(
    tmp_path: Path,
) -> None:
    env = {"GOVCONNECT_HOUSEHOLD_URL": REFUSED, "GOVCONNECT_HOUSEHOLD_PASSWORD": "Env-Pass-9923"}
    ran = govconnect("publish", "--all", "--connector", "household", cwd=tmp_path, env=env)
    assert ran.code == 1
    assert "Traceback" not in ran.output
    lines = ran.err.strip().splitlines()
    assert len(lines) == 2  # the daily dataset and the monthly statistics
    for line in lines:
        assert "failed: household." in line and "OperationalError" in line
        assert "run with -v" in line
    verbose = govconnect("-v", "publish", "111112001/0002", cwd=tmp_path, env=env)
    assert verbose.code == 1
    assert "Traceback" in verbose.err and "ConnectorError" in verbose.err
    for output in (ran.output, verbose.output):
        assert "Url-Pass-4417" not in output and "Env-Pass-9923" not in output


def test_publish_json_names_the_skipped_connectors(tmp_path: Path) -> None:
    ran = govconnect("publish", "--all", "--json", cwd=tmp_path)
    assert ran.code == 0 and "Traceback" not in ran.output
    assert '"household": "installed but not configured"' in ran.out


def test_intake_run_with_nothing_configured_is_one_line(tmp_path: Path) -> None:
    args = ["--url", "http://127.0.0.1:1", "--token", "t", "--node", "11010500000/HJGL", "--once"]
    ran = govconnect("intake", "run", *args, cwd=tmp_path)
    assert ran.code == 1
    assert "Traceback" not in ran.output
    assert "skipped household: installed but not configured" in ran.err
    assert "error: no configured connector takes intake cases" in ran.err
    assert files_under(tmp_path) == []
    named = govconnect("intake", "run", *args, "--connector", "household", cwd=tmp_path)
    assert named.code == 1 and "Traceback" not in named.output
    assert "connector 'household' is installed but not configured" in named.err


@pytest.mark.parametrize("args", [["check"], ["plugins"], ["catalog", "show"]])
def test_read_only_commands_create_nothing_for_unconfigured_connectors(
    tmp_path: Path, args: list[str]
) -> None:
    ran = govconnect(*args, cwd=tmp_path)
    assert ran.code == 0, ran.output
    assert "Traceback" not in ran.output
    assert files_under(tmp_path) == []


def test_serve_leaves_out_unconfigured_connectors_and_a_missing_database_is_one_line(
    tmp_path: Path,
) -> None:
    import os
    import shutil
    import signal
    import subprocess

    from govconnect_household import create_sample_database

    from .cli_support import EXE

    gateway_file = Path(__file__).parents[1] / "examples" / "gateway.toml"
    shutil.copy(gateway_file, tmp_path / "gateway.toml")
    missing = govconnect("serve", "--config", "gateway.toml", "--port", "0", cwd=tmp_path)
    assert missing.code == 1 and "Traceback" not in missing.output
    assert "household database file '.govconnect/household.sqlite' does not exist" in missing.err
    assert not (tmp_path / ".govconnect" / "household.sqlite").exists()

    create_sample_database(f"sqlite:///{tmp_path / '.govconnect' / 'household.sqlite'}", count=5)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVCONNECT_")}
    proc = subprocess.Popen(
        [str(EXE), "serve", "--config", "gateway.toml", "--port", "0", "--log-level", "warning"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        while len(lines) < 6 and not (lines and lines[-1].startswith("serving")):
            lines.append(proc.stderr.readline())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    # the example gateway file trusts no issuer, so a warning about claimed officers may come too
    said = [line for line in lines if "no [[issuers]]" not in line]
    assert said[0].startswith("skipped civil_affairs: installed but not configured"), lines
    assert said[1].startswith("serving 1 service(s)"), lines
