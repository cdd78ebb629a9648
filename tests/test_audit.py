"""The audit log: chaining, tamper detection (edit, delete, reorder, truncate), export, usage, CLI."""

from __future__ import annotations

import csv
import io
import itertools
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govconnect._exceptions import AuditIntegrityError, ConfigurationError
from govconnect.cli import build
from govconnect.gateway.audit import AuditLog
from govconnect.gateway.audit_chain import GENESIS
from govconnect.gateway.audit_record import parse_time


def fill(path: Path, n: int = 6) -> AuditLog:
    log = AuditLog(path)
    for i in range(n):
        ok = i % 3 != 2
        log.append(
            consumer=f"C{i % 2}",
            service="D/S/resident/v1" if i % 2 else "D/S/other/v1",
            purpose="审核",
            params_digest=f"{i:064x}",
            request_hash=f"{i + 100:064x}",
            fields=["name", "citizen_id"] if ok else [],
            withheld=["income"],
            masked=["citizen_id"],
            rows=1 if ok else 0,
            outcome="ok" if ok else "forbidden",
            status=200 if ok else 403,
            reason=None if ok else "not granted",
        )
    return log


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "audit.sqlite"
    fill(path).close()
    return path


def tamper(path: Path, *sql: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for statement in sql:
            conn.execute(statement)
    conn.close()


def verify_error(path: Path) -> AuditIntegrityError:
    with AuditLog(path, readonly=True) as log, pytest.raises(AuditIntegrityError) as exc:
        log.verify()
    return exc.value


def test_chain_links_each_record_to_the_previous(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        records = list(log.records())
        assert [r.seq for r in records] == [1, 2, 3, 4, 5, 6]
        assert records[0].prev_hash == GENESIS
        for a, b in itertools.pairwise(records):
            assert b.prev_hash == a.hash
        report = log.verify()
        assert report.records == 6
        assert log.head() == (6, records[-1].hash)
        assert len(log) == 6


def test_empty_log_verifies(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "empty.sqlite") as log:
        assert log.verify().records == 0
        assert log.head() == (0, GENESIS)


def test_edit_is_detected(log_path: Path) -> None:
    tamper(log_path, "UPDATE audit SET rows = 0 WHERE seq = 4")
    err = verify_error(log_path)
    assert (err.seq, err.kind) == (4, "altered")


def test_edit_with_rehash_is_detected_at_the_edited_record(log_path: Path) -> None:
    # an attacker who recomputes the edited record's own hash still breaks the next link
    with AuditLog(log_path) as log:
        rec = next(r for r in log.records() if r.seq == 3)
    from govconnect.gateway.audit_chain import _chain_hash

    tamper(log_path, "UPDATE audit SET consumer = 'someone-else' WHERE seq = 3")
    conn = sqlite3.connect(log_path)
    row = conn.execute("SELECT * FROM audit WHERE seq = 3").fetchone()
    new_hash = _chain_hash(rec.prev_hash, row[1:-2])
    with conn:
        conn.execute("UPDATE audit SET hash = ? WHERE seq = 3", (new_hash,))
    conn.close()
    err = verify_error(log_path)
    assert (err.seq, err.kind) == (3, "altered")


def test_delete_is_detected(log_path: Path) -> None:
    tamper(log_path, "DELETE FROM audit WHERE seq = 2")
    err = verify_error(log_path)
    assert (err.seq, err.kind) == (2, "deleted")


def test_delete_and_renumber_is_detected(log_path: Path) -> None:
    tamper(
        log_path,
        "DELETE FROM audit WHERE seq = 2",
        "UPDATE audit SET seq = seq - 1 WHERE seq > 2",
        "UPDATE audit_head SET seq = 5",
    )
    err = verify_error(log_path)
    assert (err.seq, err.kind) == (2, "deleted")  # the number is in the keyed hash
    assert "written as 3" in err.detail


def test_reorder_is_detected(log_path: Path) -> None:
    # swap records 4 and 5 whole (content and hashes): each still matches its own hash
    tamper(
        log_path,
        "UPDATE audit SET seq = -4 WHERE seq = 4",
        "UPDATE audit SET seq = 4 WHERE seq = 5",
        "UPDATE audit SET seq = 5 WHERE seq = -4",
    )
    err = verify_error(log_path)
    assert (err.seq, err.kind) == (4, "reordered")
    assert "chained after record 5" in err.detail


def test_truncate_is_detected(log_path: Path) -> None:
    tamper(log_path, "DELETE FROM audit WHERE seq > 4")
    err = verify_error(log_path)
    assert (err.seq, err.kind) == (5, "truncated")
    assert "records 5..6 were deleted" in str(err)


def test_truncate_with_head_rewritten_is_caught_by_the_head_mac_and_the_anchor(
    log_path: Path,
) -> None:
    with AuditLog(log_path) as log:
        anchor = log.head()
    with AuditLog(log_path) as log:
        rec4 = next(r for r in log.records() if r.seq == 4)
    tamper(
        log_path,
        "DELETE FROM audit WHERE seq > 4",
        f"UPDATE audit_head SET seq = 4, hash = '{rec4.hash}'",
    )
    err = verify_error(log_path)  # the head's MAC needs the key: caught without the anchor…
    assert (err.seq, err.kind) == (5, "truncated")
    with AuditLog(log_path) as log, pytest.raises(AuditIntegrityError) as exc:
        log.verify(anchor)  # …and with it
    assert exc.value.kind == "truncated"


def test_anchor_with_wrong_hash(log_path: Path) -> None:
    with AuditLog(log_path) as log, pytest.raises(AuditIntegrityError, match="anchor"):
        log.verify((3, "f" * 64))


def test_altered_head_is_detected(log_path: Path) -> None:
    tamper(log_path, "UPDATE audit_head SET hash = 'x'")
    err = verify_error(log_path)
    assert err.kind == "altered" and "head" in str(err)


def test_appends_after_truncation_still_fail_verification(log_path: Path) -> None:
    tamper(log_path, "DELETE FROM audit WHERE seq > 4")
    with AuditLog(log_path) as log:
        log.append(service="D/S/x/v1", outcome="ok", status=200)
    err = verify_error(log_path)
    assert err.kind == "deleted" and err.seq == 5


def test_two_writers_share_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    a, b = AuditLog(path), AuditLog(path)
    for i in range(10):
        (a if i % 2 else b).append(service="D/S/x/v1", outcome="ok", status=200, rows=i)
    assert a.verify().records == 10
    a.close()
    b.close()


def test_other_hash_algorithm_is_refused(log_path: Path) -> None:
    tamper(log_path, "UPDATE audit_meta SET value = 'md5' WHERE key = 'algorithm'")
    with pytest.raises(ConfigurationError, match="chained with md5"):
        AuditLog(log_path)


def test_unopenable_log(tmp_path: Path) -> None:
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(ConfigurationError, match="cannot open audit log"):
        AuditLog(tmp_path / "dir.sqlite")


# --- parameter digests -----------------------------------------------------------------------


def test_params_digest_is_keyed_by_a_private_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stat

    from govconnect.gateway.audit import KEY_ENV
    from govconnect.gateway.policy import digest

    monkeypatch.delenv(KEY_ENV, raising=False)
    path = tmp_path / "keyed.sqlite"
    with AuditLog(path) as log:
        assert not log.key_path.exists()  # created on first need, not by readers
        first = log.params_digest({"citizen_id": "11010519491231002X"})
        assert first != digest('{"citizen_id":"11010519491231002X"}')
        assert stat.S_IMODE(log.key_path.stat().st_mode) == 0o600
    with AuditLog(path) as log:  # same key after reopening
        assert log.params_digest({"citizen_id": "11010519491231002X"}) == first
    other = tmp_path / "other.sqlite"
    with AuditLog(other) as log:  # another log, another key
        assert log.params_digest({"citizen_id": "11010519491231002X"}) != first
    monkeypatch.setenv(KEY_ENV, "e0" * 32)
    with AuditLog(tmp_path / "env.sqlite") as a, AuditLog(tmp_path / "env2.sqlite") as b:
        assert a.params_digest({"x": "1"}) == b.params_digest({"x": "1"})
        assert not a.key_path.exists()
    assert AuditLog(":memory:").params_digest({"x": "1"})


def test_unwritable_key_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from govconnect.gateway.audit import KEY_ENV

    monkeypatch.delenv(KEY_ENV, raising=False)
    with AuditLog(tmp_path / "k.sqlite") as log:
        log.key_path.mkdir()  # a directory where the key file should be
        with pytest.raises(ConfigurationError, match="cannot read or create audit key"):
            log.params_digest({})
    empty = tmp_path / "e.sqlite"
    with AuditLog(empty) as log:
        log.key_path.write_bytes(b"\n")
        with pytest.raises(ConfigurationError, match="is empty"):
            log.params_digest({})


def test_find_by_parameters(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "f.sqlite") as log:
        for cid in ("A", "B", "A"):
            log.append(
                service="D/S/x/v1",
                outcome="ok",
                status=200,
                params_digest=log.params_digest({"citizen_id": cid}),
            )
        assert [r.seq for r in log.find({"citizen_id": "A"})] == [1, 3]
        assert list(log.find({"citizen_id": "C"})) == []


# --- export and usage -------------------------------------------------------------------------


def test_export_jsonl_and_csv(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        lines = log.export_text("jsonl").splitlines()
        assert len(lines) == 6
        first = json.loads(lines[0])
        assert first["seq"] == 1 and first["fields"] == ["name", "citizen_id"]
        rows = list(csv.DictReader(io.StringIO(log.export_text("csv"))))
        assert len(rows) == 6 and rows[0]["fields"] == "name;citizen_id"
        assert rows[-1]["hash"] == log.head()[1]
        with pytest.raises(ConfigurationError, match="unknown format"):
            log.export(io.StringIO(), "xml")


def test_export_since_until(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        times = [r.time for r in log.records()]
        assert [r.seq for r in log.records(since=times[2], until=times[4])] == [3, 4]
        assert list(log.records(since="2999-01-01")) == []
        assert len(list(log.records(until="2999-01-01T00:00:00+08:00"))) == 6
    with pytest.raises(ConfigurationError, match="not an ISO date"):
        parse_time("yesterday")


def test_usage_per_service(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        usage = {u.service: u for u in log.usage()}
    other, resident = usage["D/S/other/v1"], usage["D/S/resident/v1"]
    # seq 1..6 -> i 0..5; i odd -> resident; i % 3 == 2 -> refused (i = 2, 5)
    assert (resident.calls, resident.allowed, resident.refused, resident.rows) == (3, 2, 1, 2)
    assert (other.calls, other.allowed, other.refused, other.rows) == (3, 2, 1, 2)
    assert resident.consumers == 1 and resident.last_used is not None


# --- CLI --------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> CliRunner:
    build()
    return CliRunner()


def run(cli: CliRunner, *args: str, input: str | None = None):
    from govconnect.cli import app

    return cli.invoke(app, list(args), input=input, catch_exceptions=False)


def test_cli_verify_ok_and_tampered(cli: CliRunner, log_path: Path) -> None:
    ok = run(cli, "audit", "verify", "--log", str(log_path))
    assert ok.exit_code == 0 and "intact: 6 record(s)" in ok.output
    head = run(cli, "audit", "head", "--log", str(log_path)).output.strip()
    assert head.startswith("6:")
    assert run(cli, "audit", "verify", "--log", str(log_path), "--anchor", head).exit_code == 0
    tamper(log_path, "UPDATE audit SET purpose = '别的' WHERE seq = 2")
    bad = run(cli, "audit", "verify", "--log", str(log_path))
    assert bad.exit_code == 1
    assert "audit record 2 altered" in bad.output
    wrong = run(cli, "audit", "verify", "--log", str(log_path), "--anchor", "nonsense")
    assert wrong.exit_code == 1 and "SEQ:HASH" in wrong.output


def test_cli_missing_log(cli: CliRunner, tmp_path: Path) -> None:
    res = run(cli, "audit", "verify", "--log", str(tmp_path / "none.sqlite"))
    assert res.exit_code == 1 and "no audit log" in res.output


def test_cli_export_and_usage(cli: CliRunner, log_path: Path, tmp_path: Path) -> None:
    res = run(cli, "audit", "export", "--log", str(log_path), "--format", "csv")
    assert res.exit_code == 0 and res.output.startswith("seq,time,consumer")
    out = tmp_path / "out.jsonl"
    res = run(
        cli, "audit", "export", "--log", str(log_path), "-o", str(out), "--since", "2000-01-01"
    )
    assert res.exit_code == 0 and len(out.read_text(encoding="utf-8").splitlines()) == 6
    res = run(cli, "audit", "usage", "--log", str(log_path), "--json")
    assert res.exit_code == 0
    rows = {r["service"]: r for r in json.loads(res.output)["usage"]}
    assert rows["D/S/resident/v1"]["calls"] == 3
    # catalogued but never called: shown with zero calls (the "zombie" check)
    assert rows["11010500000/HJGL/resident/v1"]["calls"] == 0
    table = run(cli, "audit", "usage", "--log", str(log_path))
    assert table.exit_code == 0 and "never" in table.output


def test_cli_find(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "find.sqlite"
    with AuditLog(path) as log:
        log.append(
            service="D/S/resident/v1",
            consumer="C1",
            outcome="ok",
            status=200,
            rows=1,
            params_digest=log.params_digest({"citizen_id": "11010519491231002X"}),
        )
    res = run(cli, "audit", "find", "--log", str(path), "--param", "citizen_id=11010519491231002X")
    assert res.exit_code == 0 and "1 call(s)" in res.output and "C1" in res.output
    res = run(cli, "audit", "find", "--log", str(path), "--param", "nonsense")
    assert res.exit_code == 1 and "NAME=VALUE" in res.output


def test_cli_log_from_gateway_config(cli: CliRunner, log_path: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text(f'[gateway]\naudit_log = "{log_path.as_posix()}"\n', encoding="utf-8")
    res = run(cli, "audit", "verify", "--config", str(cfg))
    assert res.exit_code == 0 and "6 record(s)" in res.output


def test_cli_hash_token(cli: CliRunner) -> None:
    from govconnect.gateway.policy import hash_token

    res = run(cli, "gateway", "hash-token", input="my-token\n")
    assert res.exit_code == 0 and res.output.strip() == hash_token("my-token")
    gen = run(cli, "gateway", "hash-token", "--generate")
    token, hashed = [
        line for line in gen.output.splitlines() if not line.startswith(("token", "hash"))
    ]
    assert hashed == hash_token(token)
    empty = run(cli, "gateway", "hash-token", input="\n")
    assert empty.exit_code == 1 and "empty token" in empty.output


def test_cli_gateway_check_and_serve_without_config(cli: CliRunner) -> None:
    example = Path(__file__).parent.parent / "examples" / "gateway.toml"
    res = run(cli, "gateway", "check", "--config", str(example))
    assert res.exit_code == 0 and "11010500001/DBXT" in res.output
    res = run(cli, "serve")
    assert res.exit_code == 1 and "no gateway config" in res.output


def test_concurrent_appends_are_group_committed_into_one_chain(tmp_path: Path) -> None:
    import threading

    log = AuditLog(tmp_path / "busy.sqlite")
    seqs: list[int] = []

    def writer(k: int) -> None:
        for i in range(25):
            seqs.append(log.append(service=f"D/S/s{k}/v1", outcome="ok", status=200, rows=i).seq)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(seqs) == list(range(1, 201))
    assert log.verify().records == 200
    log.close()


def test_append_on_a_closed_log_raises(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "closed.sqlite")
    log.close()
    with pytest.raises(sqlite3.ProgrammingError):
        log.append(service="D/S/x/v1", outcome="ok", status=200)


# --- the keyed chain: a table of tampering kinds x detected -----------------------------------


def _rows(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    conn.close()
    return rows


def _rehash_from(path: Path, seq: int) -> None:
    """Recompute every hash from ``seq`` on with the (public) unkeyed algorithm, and the head:
    what an attacker without the key can do."""
    from govconnect.gateway.audit_chain import _chain_hash

    rows = _rows(path)
    prev = GENESIS if seq == 1 else rows[seq - 2][-1]
    conn = sqlite3.connect(path)
    with conn:
        for row in rows[seq - 1 :]:
            new = _chain_hash(prev, row[1:-2])
            conn.execute(
                "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, new, row[0])
            )
            prev = new
        conn.execute("UPDATE audit_head SET hash = ?", (prev,))
    conn.close()


def _forge_append(path: Path) -> None:
    from govconnect.gateway.audit_chain import _chain_hash
    from govconnect.gateway.audit_record import _content

    last = _rows(path)[-1]
    content = _content(service="D/S/x/v1", outcome="ok", status=200, consumer="forger")
    row = (last[0] + 1, *content, last[-1], _chain_hash(last[-1], content))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"INSERT INTO audit VALUES ({', '.join('?' * len(row))})", row)
    conn.close()


def _forge_with_another_key(path: Path, tmp: Path) -> None:
    other = tmp / "other.sqlite"
    fill(other, 7).close()
    forged = _rows(other)[-1]
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"INSERT INTO audit VALUES ({', '.join('?' * len(forged))})", forged)
    conn.close()


def _replace_with_fresh_log(path: Path, tmp: Path) -> None:
    fresh = tmp / "fresh" / "audit.sqlite"
    AuditLog(fresh).seal()  # a new log, sealed with its own new key
    path.write_bytes(fresh.read_bytes())


def _empty_the_log(path: Path) -> None:
    tamper(path, "DELETE FROM audit", f"UPDATE audit_head SET seq = 0, hash = '{GENESIS}'")


def _truncate_and_fix_head(path: Path) -> None:
    h4 = _rows(path)[3][-1]
    tamper(path, "DELETE FROM audit WHERE seq > 4", f"UPDATE audit_head SET seq = 4, hash = '{h4}'")


TAMPERING = {
    # kind: (how, expected (seq, kind))
    "record edited": (
        lambda p, t: tamper(p, "UPDATE audit SET rows = 9 WHERE seq = 3"),
        (3, "altered"),
    ),
    "record edited, every later hash recomputed": (
        lambda p, t: (
            tamper(p, "UPDATE audit SET consumer = 'x' WHERE seq = 3"),
            _rehash_from(p, 3),
        ),
        (3, "altered"),
    ),
    "forged record appended with a correct plain hash": (
        lambda p, t: _forge_append(p),
        (7, "altered"),
    ),
    "forged record appended, hashed with another key": (
        _forge_with_another_key,
        (7, "altered"),
    ),
    "record deleted": (lambda p, t: tamper(p, "DELETE FROM audit WHERE seq = 2"), (2, "deleted")),
    "record deleted and the rest renumbered": (
        lambda p, t: tamper(
            p,
            "DELETE FROM audit WHERE seq = 2",
            "UPDATE audit SET seq = seq - 1 WHERE seq > 2",
            "UPDATE audit_head SET seq = 5",
        ),
        (2, "deleted"),
    ),
    "two records swapped": (
        lambda p, t: tamper(
            p,
            "UPDATE audit SET seq = -4 WHERE seq = 4",
            "UPDATE audit SET seq = 4 WHERE seq = 5",
            "UPDATE audit SET seq = 5 WHERE seq = -4",
        ),
        (4, "reordered"),
    ),
    "tail deleted": (lambda p, t: tamper(p, "DELETE FROM audit WHERE seq > 4"), (5, "truncated")),
    "tail deleted, head rewritten to match": (
        lambda p, t: _truncate_and_fix_head(p),
        (5, "truncated"),
    ),
    "every record deleted, head reset": (lambda p, t: _empty_the_log(p), (1, "truncated")),
    "head hash altered": (
        lambda p, t: tamper(p, "UPDATE audit_head SET hash = 'x'"),
        (6, "altered"),
    ),
    "head MAC altered": (
        lambda p, t: tamper(p, "UPDATE audit_head SET mac = 'x'"),
        (7, "truncated"),
    ),
    "records table dropped": (lambda p, t: tamper(p, "DROP TABLE audit"), (0, "dropped")),
    "every table dropped": (
        lambda p, t: tamper(
            p, "DROP TABLE audit", "DROP TABLE audit_head", "DROP TABLE audit_meta"
        ),
        (0, "replaced"),
    ),
    "file replaced by an empty file": (lambda p, t: p.write_bytes(b""), (0, "replaced")),
    "file replaced by a fresh log": (_replace_with_fresh_log, (0, "replaced")),
    "seal removed (downgrade to unkeyed)": (
        lambda p, t: tamper(p, "DELETE FROM audit_meta WHERE key != 'algorithm'"),
        (0, "altered"),
    ),
    "keyed-from point moved (seal edited)": (
        lambda p, t: tamper(p, "UPDATE audit_meta SET value = '100' WHERE key = 'keyed_from'"),
        (0, "replaced"),
    ),
}


@pytest.mark.parametrize("kind", list(TAMPERING))
def test_tampering_is_detected_without_an_anchor(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    fill(path).close()
    how, expected = TAMPERING[kind]
    with AuditLog(path) as log:
        assert log.verify().records == 6
    for extra in path.parent.glob("audit.sqlite-*"):
        extra.unlink()
    how(path, tmp_path)
    err = verify_error(path)
    assert (err.seq, err.kind) == expected, str(err)


# --- migration, read-only verification, a log that disappeared ----------------------------------


def unkeyed_log(path: Path, n: int) -> None:
    """A log as a gateway wrote it before keying (schema 1): plain SM3 links, no seal."""
    from govconnect.gateway.audit_chain import _chain_hash
    from govconnect.gateway.audit_record import _content

    AuditLog(path).close()  # the tables, nothing sealed, no key
    conn = sqlite3.connect(path)
    prev = GENESIS
    with conn:
        for i in range(1, n + 1):
            content = _content(service="D/S/old/v1", outcome="ok", status=200, rows=i)
            h = _chain_hash(prev, content)
            conn.execute(
                f"INSERT INTO audit VALUES ({', '.join('?' * (len(content) + 3))})",
                (i, *content, prev, h),
            )
            prev = h
        conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (n, prev))  # schema 1's trigger
    conn.close()


def test_an_unkeyed_log_is_verified_as_before_and_keyed_from_its_next_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    unkeyed_log(path, 3)
    with AuditLog(path, readonly=True) as log:
        report = log.verify()
    assert (report.records, report.keyed_from, report.unkeyed, report.chain) == (3, None, 3, "SM3")
    with AuditLog(path) as log:  # a gateway opens it: keyed from record 4 on
        log.append(service="D/S/new/v1", outcome="ok", status=200)
    with AuditLog(path, readonly=True) as log:
        report = log.verify()
    assert (report.records, report.keyed_from, report.unkeyed) == (4, 4, 3)
    assert report.chain == "HMAC-SM3"
    # the unkeyed history can be re-hashed without the key, but the keyed link after it breaks
    from govconnect.gateway.audit_chain import _chain_hash

    rows = _rows(path)
    tamper(path, "UPDATE audit SET rows = 99 WHERE seq = 3")
    edited = _rows(path)[2]
    tamper(
        path, f"UPDATE audit SET hash = '{_chain_hash(rows[1][-1], edited[1:-2])}' WHERE seq = 3"
    )
    err = verify_error(path)
    assert (err.seq, err.kind) == (3, "altered")


def test_verify_creates_and_changes_nothing_on_a_read_only_copy(tmp_path: Path) -> None:
    import hashlib
    import os
    import stat

    folder = tmp_path / "copy"
    folder.mkdir()
    path = folder / "audit.sqlite"
    fill(path).close()
    key = path.with_name("audit.sqlite.key")
    (tmp_path / "audit.key").write_bytes(key.read_bytes())
    key.unlink()  # the inspector's copy: the log alone, the key given by the environment
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR)
    try:
        os.environ["GOVCONNECT_AUDIT_KEY"] = (tmp_path / "audit.key").read_text().strip()
        cli = CliRunner()
        build()
        res = run(cli, "audit", "verify", "--log", str(path))
        assert res.exit_code == 0, res.output
        assert "intact: 6 record(s), HMAC-SM3 chain" in res.output
        for command in ("head", "usage", "export"):
            assert run(cli, "audit", command, "--log", str(path)).exit_code == 0
    finally:
        os.environ.pop("GOVCONNECT_AUDIT_KEY", None)
        os.chmod(folder, stat.S_IRWXU)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
    assert after == before


def test_verify_of_a_keyed_log_without_its_key_says_so(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    fill(path).close()
    path.with_name("audit.sqlite.key").unlink()
    with (
        AuditLog(path, readonly=True) as log,
        pytest.raises(ConfigurationError, match="no audit key"),
    ):
        log.verify()
    assert not path.with_name("audit.sqlite.key").exists()


def test_a_deleted_log_is_not_silently_started_afresh(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    fill(path).close()
    path.unlink()
    with pytest.raises(ConfigurationError, match="missing or empty, but its key"):
        AuditLog(path)
    assert not path.exists()
    path.write_bytes(b"")  # replaced by an empty file
    with pytest.raises(ConfigurationError, match="missing or empty, but its key"):
        AuditLog(path)
    fill(tmp_path / "damaged.sqlite").close()
    tamper(tmp_path / "damaged.sqlite", "DROP TABLE audit_head")
    with pytest.raises(ConfigurationError, match="damaged"):
        AuditLog(tmp_path / "damaged.sqlite")


def test_verify_reads_records_and_head_in_one_snapshot(tmp_path: Path) -> None:
    """A live log: appends between reading the records and reading the head are not seen."""
    import threading

    path = tmp_path / "live.sqlite"
    writer = fill(path)
    stop = threading.Event()

    def append() -> None:
        while not stop.is_set():
            writer.append(service="D/S/live/v1", outcome="ok", status=200)

    thread = threading.Thread(target=append)
    thread.start()
    try:
        reports = [AuditLog(path, readonly=True).verify() for _ in range(20)]
    finally:
        stop.set()
        thread.join(10)
    writer.close()
    assert all(r.head_seq == r.records for r in reports)


def test_threads_creating_the_key_at_once_all_read_the_whole_key(tmp_path: Path) -> None:
    """The key file appears whole (written aside, then linked into place): a reader racing its
    creator never meets an empty file, and every one gets the one key that won."""
    for attempt in range(20):
        got = _race_for_the_key(tmp_path / f"race{attempt}.key", 8)
        assert len(set(got)) == 1 and isinstance(got[0], bytes) and len(got[0]) == 64, got
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"race{i}.key" for i in range(20))


def _race_for_the_key(path: Path, threads: int) -> list[bytes | Exception]:
    """What ``threads`` threads calling ``read_or_create_key(path)`` at once got (or raised)."""
    import threading

    from govconnect.gateway.audit_sqlite import read_or_create_key

    got: list[bytes | Exception] = []
    start = threading.Barrier(threads)

    def one() -> None:
        start.wait()
        try:
            got.append(read_or_create_key(path))
        except Exception as exc:  # collected: the caller's assertion names it
            got.append(exc)

    running = [threading.Thread(target=one) for _ in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join()
    return got
