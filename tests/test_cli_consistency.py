"""The CLI conventions of docs/cli.md, through the real ``govconnect`` entry point: operational
faults are one line and exit 1 (``-v`` adds the traceback), reports take ``--json`` and print an
object, one name and one short flag per thing, help without Python type placeholders, and the
exit codes the page documents.

Tests run as root, where ``chmod a-w`` does not stop a write; an outbox that cannot be written is
made the ways that hold for root too: a file where its folder should be, a folder where its file
should be, ``/dev/full`` (every write fails with "disk full"), and a file that is not a database.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from govconnect.gateway.audit import AuditLog

from .cli_support import Ran, govconnect

EXAMPLE_GATEWAY = Path(__file__).parents[1] / "examples" / "gateway.toml"


def one_line_failure(ran: Ran) -> str:
    """The run failed with exit 1 and exactly one line on stderr, no traceback: that line."""
    assert ran.code == 1, ran.output
    assert "Traceback" not in ran.output
    lines = [line for line in ran.err.splitlines() if line.strip()]
    assert len(lines) == 1, ran.err
    return lines[0]


# --- operational faults ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["status", "dead"])
def test_a_full_disk_is_one_line_naming_the_outbox(tmp_path: Path, command: str) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    line = one_line_failure(govconnect("outbox", command, "--outbox", "/dev/full", cwd=tmp_path))
    assert line.startswith("error: cannot open the outbox at /dev/full: database or disk is full")
    verbose = govconnect("-v", "outbox", command, "--outbox", "/dev/full", cwd=tmp_path)
    assert verbose.code == 1 and "Traceback" in verbose.err


def test_an_outbox_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the outbox's folder should be")
    line = one_line_failure(
        govconnect("outbox", "status", "--outbox", "state/o.sqlite", cwd=tmp_path)
    )
    assert "cannot open the outbox at state/o.sqlite: state is a file where a folder" in line
    (tmp_path / "folder.sqlite").mkdir()
    line = one_line_failure(govconnect("outbox", "dead", "--outbox", "folder.sqlite", cwd=tmp_path))
    assert "cannot open the outbox at folder.sqlite: unable to open database file" in line
    (tmp_path / "junk.sqlite").write_bytes(b"not a database" * 100)
    line = one_line_failure(govconnect("outbox", "status", "--outbox", "junk.sqlite", cwd=tmp_path))
    assert "junk.sqlite: file is not a database" in line


def test_publish_to_an_outbox_on_a_full_disk_is_one_line(tmp_path: Path) -> None:
    from govconnect_household import create_sample_database

    create_sample_database(f"sqlite:///{tmp_path / 'hj.sqlite'}", count=5)
    env = {"GOVCONNECT_HOUSEHOLD_URL": f"sqlite:///{tmp_path / 'hj.sqlite'}"}
    ran = govconnect("publish", "111112001/0002", "--outbox", "/dev/full", cwd=tmp_path, env=env)
    assert "cannot open the outbox at /dev/full: database or disk is full" in one_line_failure(ran)


def test_an_unreachable_outbox_database_is_one_line_without_its_password(tmp_path: Path) -> None:
    url = "postgresql://gc:Secret-Pw-31@127.0.0.1:1/gc"
    line = one_line_failure(govconnect("outbox", "status", "--outbox", url, cwd=tmp_path))
    assert "cannot open the outbox at postgresql://gc@127.0.0.1:1/gc" in line
    assert "Secret-Pw-31" not in line


def test_an_unreachable_legacy_database_is_one_line(tmp_path: Path) -> None:
    url = "postgresql+psycopg://hj:Url-Pw-77@127.0.0.1:1/hj"
    ran = govconnect("discover", "sql", url, cwd=tmp_path)
    assert ran.code == 1 and "Traceback" not in ran.output, ran.output
    assert "Url-Pw-77" not in ran.output


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (["serve", "--config", str(EXAMPLE_GATEWAY)], "the gateway"),
        (["mock-platform"], "the mock platform"),
        (["mock-identity"], "the mock identity center"),
    ],
)
def test_a_busy_port_is_one_line_and_exit_1(
    tmp_path: Path, busy_port: int, command: list[str], what: str
) -> None:
    if command[0] == "serve":
        from govconnect_household import create_sample_database

        create_sample_database(
            f"sqlite:///{tmp_path / '.govconnect' / 'household.sqlite'}", count=5
        )
    ran = govconnect(*command, "--port", str(busy_port), cwd=tmp_path, timeout=60)
    assert ran.code == 1, ran.output
    assert "Traceback" not in ran.output
    assert (
        f"error: {what} cannot listen on 127.0.0.1:{busy_port}: Address already in use" in ran.err
    )


# --- --json everywhere a report is printed ---------------------------------------------------------


def test_outbox_reports_take_json(tmp_path: Path) -> None:
    status = govconnect("outbox", "status", "--outbox", "o.sqlite", "--json", cwd=tmp_path)
    assert status.code == 0, status.output
    data = json.loads(status.out)
    assert data["outbox"] == "o.sqlite" and data["pending"] == 0 and data["dead"] == 0
    assert data["oldest_pending"] is None
    dead = govconnect("outbox", "dead", "--outbox", "o.sqlite", "--json", cwd=tmp_path)
    assert json.loads(dead.out) == {"outbox": "o.sqlite", "dead_letters": []}
    old = govconnect("outbox", "status", "--path", "o.sqlite", "--json", cwd=tmp_path)
    assert old.code == 0 and json.loads(old.out)["outbox"] == "o.sqlite"  # the hidden alias


def test_gateway_check_takes_json(tmp_path: Path) -> None:
    ran = govconnect("gateway", "check", "--config", str(EXAMPLE_GATEWAY), "--json", cwd=tmp_path)
    assert ran.code == 0, ran.output
    data = json.loads(ran.out)
    assert {c["consumer"] for c in data["consumers"]} >= {"11010500002"}
    assert data["officers"]["verified"] is False and data["warnings"]


def test_audit_verify_and_head_take_json(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    with AuditLog(path) as log:
        for i in range(3):
            log.append(
                service="D/S/x/v1",
                consumer="C1",
                purpose="p",
                outcome="ok",
                status=200,
                rows=1,
                params_digest="d",
                message_id=f"m{i}",
            )
    head = govconnect("audit", "head", "--audit-log", str(path), "--json", cwd=tmp_path)
    assert head.code == 0, head.output
    assert json.loads(head.out)["head"]["seq"] == 3
    verify = govconnect("audit", "verify", "--audit-log", str(path), "--json", cwd=tmp_path)
    assert verify.code == 0, verify.output
    data = json.loads(verify.out)
    assert data["intact"] is True and data["records"] == 3 and data["head"]["seq"] == 3
    old = govconnect("audit", "head", "--log", str(path), cwd=tmp_path)  # the hidden alias
    assert old.code == 0 and old.out.startswith("3:")


@pytest.mark.parametrize(
    "args",
    [
        ["plugins", "--json"],
        ["check", "--json"],
        ["config", "show", "--json"],
        ["catalog", "show", "--json"],
        ["publish", "--all", "--json"],
        ["outbox", "status", "--json", "--outbox", "o.sqlite"],
    ],
)
def test_every_json_document_is_an_object(tmp_path: Path, args: list[str]) -> None:
    ran = govconnect(*args, cwd=tmp_path)
    assert ran.code == 0, ran.output
    data = json.loads(ran.out)
    assert isinstance(data, dict)
    if args[0] in ("plugins", "check"):
        assert data["load_errors"] == []
    if args[0] in ("check", "publish"):
        assert isinstance(data["failed"], int)


# --- names, short flags, help, exit codes -----------------------------------------------------------


def _commands() -> Iterator[tuple[list[str], object]]:
    import typer

    from govconnect.cli import build

    def walk(cmd: object, path: list[str]) -> Iterator[tuple[list[str], object]]:
        yield path, cmd
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(build()), [])


def test_a_short_flag_means_one_thing_everywhere() -> None:
    meaning: dict[str, set[str]] = {}
    for _path, cmd in _commands():
        for param in getattr(cmd, "params", []):
            names = [*param.opts, *param.secondary_opts]
            # where the output goes: a file, or the project folder for `new connector`
            longs = [{"--output-dir": "--output"}.get(n, n) for n in names if n.startswith("--")]
            for short in (n for n in names if re.fullmatch(r"-[a-zA-Z]", n)):
                meaning.setdefault(short, set()).update(longs[:1])
    assert {k: v for k, v in meaning.items() if len(v) > 1} == {}
    assert meaning["-f"] == {"--format"} and meaning["-p"] == {"--port"}


def test_the_outbox_and_the_audit_log_have_one_name() -> None:
    for path, cmd in _commands():
        for param in getattr(cmd, "params", []):
            if param.name in ("outbox", "outbox_location", "outbox_path"):
                assert "--outbox" in param.opts, path
            if "--path" in param.opts or "--log" in param.opts:
                assert param.hidden, path  # old spellings: accepted, not advertised


def test_help_has_no_python_type_placeholders_or_rest() -> None:
    from typer.testing import CliRunner

    from govconnect.cli import app, build

    build()
    runner = CliRunner()
    for path, _cmd in _commands():
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
        assert res.exit_code == 0, (path, res.output)
        for bad in ("<bool>", "<str>", "<int>", "<float>", "<path>", "``", ":class:"):
            assert bad not in res.output, (path, bad)


def test_the_documented_exit_codes(tmp_path: Path) -> None:
    page = (Path(__file__).parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    for code in ("| 0 |", "| 1 |", "| 2 |", "| 3 |", "a busy port"):
        assert code in page
    assert govconnect("plugins", cwd=tmp_path).code == 0
    assert govconnect("no-such-command", cwd=tmp_path).code == 2
    assert govconnect("catalog", "export", "--format", "xls", cwd=tmp_path).code == 2
    assert govconnect("audit", "head", "--audit-log", "absent.sqlite", cwd=tmp_path).code == 1
    export = govconnect("catalog", "export", "-f", "json", cwd=tmp_path)
    (tmp_path / "a.json").write_text(export.out, encoding="utf-8")
    data = json.loads(export.out)
    data["resources"] = [r for r in data["resources"] if r["code"].startswith("111112001/")]
    (tmp_path / "b.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert govconnect("catalog", "diff", "a.json", "b.json", "--exit-code", cwd=tmp_path).code == 3


def test_a_narrow_terminal_never_cuts_the_key_column(tmp_path: Path) -> None:
    ran = govconnect("catalog", "show", cwd=tmp_path, env={"COLUMNS": "60"})
    assert ran.code == 0, ran.output
    for code in ("111112001/0001", "111112001/0002", "111112001/0003"):
        assert code in ran.out


# --- found by the survey of bad inputs ------------------------------------------------------------


def test_plugin_commands_fail_in_one_line_too(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    ran = govconnect("household", "seed", "--url", "notaurl", cwd=tmp_path)
    assert "unexpected sqlalchemy.exc.ArgumentError" in one_line_failure(ran)
    ran = govconnect("civil-affairs", "seed", "--dir", "afile/x", cwd=tmp_path)
    assert "Not a directory (ENOTDIR): afile/x" in one_line_failure(ran)


def test_export_to_a_fifo_writes_into_it_and_leaves_it_a_fifo(tmp_path: Path) -> None:
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    ran = govconnect("catalog", "export", "-o", str(fifo), cwd=tmp_path)
    reader.join(30)
    assert ran.code == 0, ran.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # a rename would have replaced it with a file
    assert json.loads(got[0])["resources"]


def test_demo_with_an_unknown_fault_profile_is_a_usage_error(tmp_path: Path) -> None:
    ran = govconnect("demo", "--faults", "nosuch", "--dir", "d", cwd=tmp_path)
    assert ran.code == 2 and "Traceback" not in ran.output
    assert "choose one of none, flaky, hostile" in ran.err
