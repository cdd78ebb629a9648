"""The audit log on PostgreSQL: the chain's properties on both stores, tampering (a fork among
it) found by ``verify``, several processes on one chain (``serve --workers 2`` plus this
process), and the failures a user meets (no key, a bad URL, the server down) as one line."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import Result
from typer.testing import CliRunner

from govconnect._exceptions import AuditIntegrityError, ConfigurationError
from govconnect.exchange.outbox.pg_schema import parse_url
from govconnect.gateway.audit import AuditLog
from govconnect.gateway.audit_chain import GENESIS
from govconnect.testing._databases import database_url, unique_name

from .cli_support import EXE
from .gateway_support import asgi_get, gateway_config, path_of, registry

KEY = "5e" * 32  # 32 bytes of key material, as hex: the least the rule allows (not secret)
PURPOSE = "最低生活保障审核"
MINZHENG = {"Authorization": "Bearer demo-minzheng-token"}


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """``govconnect ARGS`` in this process (faster than the console script; the same code)."""
    from govconnect.cli import app, build

    build()
    return CliRunner().invoke(app, list(args), env=env)


def _server_url(tmp_path: Path) -> str:
    return database_url("postgresql", tmp_path).replace("postgresql+psycopg://", "postgresql://")


def _drop(server: str, schema: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def pg_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh PostgreSQL audit log's URL (a schema of its own, dropped afterwards); the audit
    key in the environment, as every process sharing the log has it."""
    server = _server_url(tmp_path)
    schema = unique_name("gc_audit")
    monkeypatch.setenv("GOVCONNECT_AUDIT_KEY", KEY)
    try:
        yield f"{server}?schema={schema}"
    finally:
        _drop(server, schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_at(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Where a fresh audit log of either store lives (the chain's properties hold on both)."""
    if request.param == "sqlite":
        yield str(tmp_path / "audit.sqlite")
        return
    yield request.getfixturevalue("pg_audit")


def _append(log: AuditLog, i: int) -> None:
    log.append(
        consumer=f"C{i % 2}",
        service="D/S/resident/v1" if i % 2 else "D/S/other/v1",
        purpose="审核",
        params_digest=log.params_digest({"citizen_id": str(i)}),
        fields=["name"],
        rows=1 if i % 3 else 0,
        outcome="ok" if i % 3 else "forbidden",
        status=200 if i % 3 else 403,
    )


# --- the chain on both stores ---------------------------------------------------------------------


def test_the_chain_and_its_reports_on_both_stores(audit_at: str) -> None:
    with AuditLog(audit_at) as log:
        for i in range(6):
            _append(log, i)
        records = list(log.records())
        assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6] and len(log) == 6
        assert records[0].prev_hash == GENESIS
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
        report = log.verify()
        assert (report.records, report.keyed_from, report.head_seq) == (6, 1, 6)
        assert log.verify(anchor=(3, records[2].hash)).records == 6
        with pytest.raises(AuditIntegrityError, match="anchor"):
            log.verify(anchor=(3, "0" * 64))
        assert [r.seq for r in log.find({"citizen_id": "4"})] == [5]
        usage = {u.service: u for u in log.usage()}
        assert (usage["D/S/resident/v1"].calls, usage["D/S/other/v1"].refused) == (3, 1)
        assert sum(u.calls for u in log.officer_usage()) == 6
        assert log.export_text("jsonl", since="2000-01-01").count("\n") == 6
        assert log.head() == (6, records[-1].hash)
    with AuditLog(audit_at, readonly=True) as again:  # reports read the same chain back
        assert again.verify().records == 6 and len(list(again.records())) == 6


def test_concurrent_appends_make_one_chain_on_both_stores(audit_at: str) -> None:
    with AuditLog(audit_at) as log:
        threads = [
            threading.Thread(target=lambda k=k: [_append(log, k * 40 + i) for i in range(40)])
            for k in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert log.verify().records == 240 == len(log)


# --- several processes, one chain -----------------------------------------------------------------


def _start_serve(folder: Path, *args: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """``govconnect serve ARGS`` in ``folder`` on a free port; its process and base URL."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GOVCONNECT_")}
    proc = subprocess.Popen(
        [
            str(EXE),
            "serve",
            "--config",
            "gateway.toml",
            "--port",
            "0",
            "--log-level",
            "warning",
            *args,
        ],
        cwd=folder,
        env={**base, **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for _ in range(8):
        line = proc.stderr.readline()
        if line.startswith("serving"):
            return proc, line.split(" on ", 1)[1].split()[0]
    proc.kill()
    raise AssertionError(f"serve did not start: {line!r}")


@pytest.fixture
def household_folder(tmp_path: Path) -> Path:
    """A folder with the example gateway file and a small household database."""
    import shutil

    from govconnect_household import create_sample_database

    shutil.copy(Path(__file__).parents[1] / "examples" / "gateway.toml", tmp_path / "gateway.toml")
    create_sample_database(f"sqlite:///{tmp_path / '.govconnect' / 'household.sqlite'}", count=5)
    return tmp_path


def test_worker_processes_and_this_one_append_to_one_chain(
    household_folder: Path, pg_audit: str
) -> None:
    outbox = str(household_folder / "outbox.sqlite")
    from govconnect import Outbox

    Outbox(outbox).close()  # the department's outbox: /metrics watches it, never creates it
    env = {
        "GOVCONNECT_AUDIT_KEY": KEY,
        "GOVCONNECT_AUDIT_LOG": pg_audit,
        "GOVCONNECT_OUTBOX": outbox,
    }
    # two uvicorn workers and this process: three processes appending to one chain at once (a
    # third worker would only add start-up time to the test on a small machine)
    proc, base = _start_serve(household_folder, "--workers", "2", env=env)
    answered: list[int] = []
    with AuditLog(pg_audit) as here:  # a third process appending in the same moments

        def call(k: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                for i in range(10):
                    resp = client.get(
                        "/services/11010500000/HJGL/resident/v1",
                        params={"citizen_id": f"11010519900101{k:02d}{i:02d}", "purpose": PURPOSE},
                        headers=MINZHENG,
                    )
                    answered.append(resp.status_code)
                    _append(here, k * 100 + i)

        try:
            threads = [threading.Thread(target=call, args=(k,)) for k in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            metrics = httpx.get(f"{base}/metrics", timeout=30).text  # any worker answers
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        assert "govconnect_outbox_up 1" in metrics  # the workers watch the outbox too
        assert len(answered) == 60 and set(answered) <= {200, 422}, set(answered)
        records = list(here.records())
    assert [r.seq for r in records] == list(range(1, 121))  # contiguous: no gap, no fork
    assert sum(r.service.startswith("11010500000/HJGL/") for r in records) == 60
    ran = cli("audit", "verify", "--json", env=env)
    assert ran.exit_code == 0, ran.output
    verdict = json.loads(ran.stdout)
    assert verdict["intact"] and verdict["records"] == 120 and verdict["head"]["seq"] == 120


def test_the_workers_spec_keeps_passwords_out_of_the_environment(
    household_folder: Path, pg_audit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit and outbox URLs reach the workers in a file of mode 0600 (removed when serve
    ends), not in the environment every process they start inherits."""
    import stat

    from govconnect.cli import serve as serve_module

    monkeypatch.chdir(household_folder)
    audit = pg_audit.replace("://postgres@", "://postgres:s3cret@")  # trust auth: not checked
    outbox = audit.split("?", 1)[0] + "?schema=" + unique_name("gc_nobox")
    seen: dict[str, Any] = {}

    def run_workers(settings: Any, sock: Any) -> None:
        spec_file = Path(os.environ["GOVCONNECT_SERVE_WORKER"])
        seen.update(
            environ=dict(os.environ),
            file=spec_file,
            mode=stat.S_IMODE(spec_file.stat().st_mode),
            spec=json.loads(spec_file.read_text()),
        )

    monkeypatch.setattr(serve_module, "_run_workers", run_workers)
    ran = cli(
        *("serve", "--config", "gateway.toml", "--audit-log", audit, "--outbox", outbox),
        *("--workers", "2", "--port", "0"),
    )
    assert ran.exit_code == 0, ran.output
    assert "s3cret" in audit and not [k for k, v in seen["environ"].items() if "s3cret" in v]
    assert seen["spec"]["audit"] == audit and seen["spec"]["outbox"] == outbox
    assert seen["mode"] == 0o600 and not seen["file"].exists()
    assert "GOVCONNECT_SERVE_WORKER" not in os.environ


def test_serve_refuses_several_workers_on_a_sqlite_audit_log(
    household_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(household_folder)
    ran = cli("serve", "--config", "gateway.toml", "--workers", "2", "--port", "0")
    assert ran.exit_code == 1 and "Traceback" not in ran.output
    assert "--workers 2 needs the audit log on PostgreSQL" in ran.output
    assert not (household_folder / ".govconnect" / "audit.sqlite").exists()


def test_page_tokens_of_one_process_are_followed_by_another(pg_audit: str) -> None:
    from govconnect.gateway.app import Gateway

    one = Gateway(registry(), gateway_config(), audit=pg_audit)
    two = Gateway(registry(), gateway_config(), audit=pg_audit)
    try:
        headers = [(b"authorization", b"Bearer tok-core-p")]
        status, _, body = asgi_get(one.app, path_of("many_cases"), b"count=15", headers)
        token = json.loads(body)["next_page"]
        assert status == 200 and token
        query = f"count=15&page={token}".encode()
        status, _, body = asgi_get(two.app, path_of("many_cases"), query, headers)
        assert status == 200 and len(json.loads(body)["records"]) == 5
    finally:
        one.close()
        two.close()
    with AuditLog(pg_audit, readonly=True) as log:
        assert log.verify().records == 2


# --- tampering on PostgreSQL ----------------------------------------------------------------------


def _sql(url: str, *statements: str) -> None:
    """Run ``statements`` in the log's schema, as someone with access to the database would."""
    where = parse_url(url)
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {where.schema}")
        for statement in statements:
            conn.execute(statement, ())


def _fork(url: str) -> None:
    """Chain a new record after record 4, as two processes without the head's lock would."""
    from govconnect.gateway.audit_chain import ChainKey
    from govconnect.gateway.audit_record import _COLUMNS, _content

    with AuditLog(url, readonly=True) as log:
        parent = list(log.records())[3]
    content = _content(service="D/S/x/v1", outcome="ok", status=200)
    row = [7, *content, parent.hash, ChainKey(KEY.encode()).record(parent.hash, 5, content)]
    marks = ", ".join(["%s"] * len(row))
    where = parse_url(url)
    with psycopg.connect(where.conninfo, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {where.schema}")
        conn.execute(f"INSERT INTO audit ({', '.join(_COLUMNS)}) VALUES ({marks})", row)


PG_TAMPERING: dict[str, tuple[Any, tuple[int, str]]] = {
    "record edited": (("UPDATE audit SET rows = 9 WHERE seq = 3",), (3, "altered")),
    "record deleted": (("DELETE FROM audit WHERE seq = 2",), (2, "deleted")),
    "two records swapped": (
        (
            "UPDATE audit SET seq = -4 WHERE seq = 4",
            "UPDATE audit SET seq = 4 WHERE seq = 5",
            "UPDATE audit SET seq = 5 WHERE seq = -4",
        ),
        (4, "reordered"),
    ),
    "tail deleted": (("DELETE FROM audit WHERE seq > 4",), (5, "truncated")),
    "head MAC altered": (("UPDATE audit_head SET mac = 'x'",), (7, "truncated")),
    "records table dropped": (("DROP TABLE audit",), (0, "dropped")),
    "every table dropped": (
        ("DROP TABLE audit", "DROP TABLE audit_head", "DROP TABLE audit_meta"),
        (0, "replaced"),
    ),
    "seal removed": (("DELETE FROM audit_meta WHERE key != 'algorithm'",), (0, "altered")),
    "forked: a record chained after the same predecessor as another": (_fork, (7, "forked")),
}


@pytest.mark.parametrize("kind", list(PG_TAMPERING))
def test_tampering_on_postgresql_is_found_naming_the_first_bad_record(
    kind: str, pg_audit: str
) -> None:
    with AuditLog(pg_audit) as log:
        for i in range(6):
            _append(log, i)
    how, expected = PG_TAMPERING[kind]
    if callable(how):
        how(pg_audit)
    else:
        _sql(pg_audit, *how)
    if kind == "every table dropped":
        with pytest.raises(ConfigurationError, match="no audit log at"):
            AuditLog(pg_audit, readonly=True)
        return
    with AuditLog(pg_audit, readonly=True) as log, pytest.raises(AuditIntegrityError) as err:
        log.verify()
    assert (err.value.seq, err.value.kind) == expected, str(err.value)


def test_cli_verify_names_the_fork(pg_audit: str, tmp_path: Path) -> None:
    with AuditLog(pg_audit) as log:
        for i in range(6):
            _append(log, i)
    _fork(pg_audit)
    ran = cli("audit", "verify", "--audit-log", pg_audit)
    assert ran.exit_code == 1 and "Traceback" not in ran.output
    assert "audit record 7 forked: records 5 and 7 are both chained after record 4" in ran.output


def test_a_failed_append_is_an_error_naming_the_log_and_the_next_one_goes_on(
    pg_audit: str,
) -> None:
    with AuditLog(pg_audit) as log:
        _append(log, 1)
        _sql(  # a row in the way of the next number (only tampering puts one there)
            pg_audit,
            "INSERT INTO audit (seq, time, service, fields, withheld, masked, rows, outcome,"
            " status, prev_hash, hash) VALUES (2, 't', 's', '[]', '[]', '[]', 0, 'ok', 200, 'x', 'y')",
        )
        with pytest.raises(ConfigurationError, match="cannot append: duplicate key"):
            _append(log, 2)
        _sql(pg_audit, "DELETE FROM audit WHERE seq = 2")
        # the server ends the appending session (a restart, a failover): a new one is opened
        _sql(pg_audit, f"SELECT pg_terminate_backend({log._writer.info.backend_pid})")
        for i in range(3):
            try:
                _append(log, i)
            except ConfigurationError as exc:  # the call that found the session gone
                assert "cannot append" in str(exc)
        assert log.verify().records == len(log) >= 3
        assert log.head()[0] == len(log)


# --- failures, each one line ----------------------------------------------------------------------


def test_a_shared_log_needs_the_key_in_the_environment(
    pg_audit: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GOVCONNECT_AUDIT_KEY")
    with pytest.raises(ConfigurationError, match=r"needs its key in \$GOVCONNECT_AUDIT_KEY"):
        AuditLog(pg_audit)
    ran = cli("audit", "verify", "--audit-log", pg_audit)
    assert ran.exit_code == 1 and "no audit log at" in ran.output  # nothing was created meanwhile


@pytest.mark.parametrize(
    "weak",
    [
        "test-audit-key-not-secret",
        "ab" * 31,
        "c2VjcmV0",
        "not hex, not base64 at all, but long enough",
    ],
)
def test_a_key_with_less_than_32_bytes_of_material_is_refused_naming_the_rule(
    audit_at: str, weak: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Either store: a passphrase, 31 bytes as hex, short base64 — refused before anything is
    keyed with it, naming the variable, the rule and how to make a key."""
    import base64
    import secrets

    from govconnect.gateway.audit_sqlite import key_from_env

    monkeypatch.setenv("GOVCONNECT_AUDIT_KEY", weak)
    with pytest.raises(ConfigurationError) as refused, AuditLog(audit_at) as log:
        log.seal()
    said = str(refused.value)
    assert "$GOVCONNECT_AUDIT_KEY must hold at least 32 bytes of key material" in said
    assert "secrets.token_hex(32)" in said and weak not in said
    monkeypatch.setenv("GOVCONNECT_AUDIT_KEY", secrets.token_hex(32))  # the documented recipe
    with AuditLog(audit_at) as log:
        log.seal()
        assert log.params_digest({"x": "1"})
    material = secrets.token_bytes(32)
    for strong in (
        base64.b64encode(material).decode(),
        base64.urlsafe_b64encode(material).decode(),
    ):
        assert key_from_env(strong) == strong.encode()


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://gc:s3cret@127.0.0.1:1/test", "cannot open the audit log at"),
        ("postgresql://127.0.0.1/test?schema=Bad-Name", "audit log schema must be a lower-case"),
        ("postgresql://127.0.0.1:99999/test", "not a PostgreSQL URL"),
    ],
)
def test_bad_url_or_server_down_is_one_line(url: str, said: str) -> None:
    for args in (["audit", "verify", "--audit-log", url], ["audit", "usage"]):
        ran = cli(*args, env={"GOVCONNECT_AUDIT_LOG": url})
        assert ran.exit_code == 1 and "Traceback" not in ran.output, ran.output
        assert said in ran.output and "s3cret" not in ran.output
        assert len(ran.output.strip().splitlines()) == 1, ran.output


def test_serve_on_a_server_that_is_down_is_one_line(
    household_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(household_folder)
    monkeypatch.setenv("GOVCONNECT_AUDIT_KEY", KEY)
    url = "postgresql://gc:s3cret@127.0.0.1:1/test"
    ran = cli("serve", "--config", "gateway.toml", "--audit-log", url, "-w", "2", "--port", "0")
    assert ran.exit_code == 1 and "Traceback" not in ran.output and "s3cret" not in ran.output
    assert "cannot open the audit log at postgresql://gc@127.0.0.1:1/test" in ran.output
