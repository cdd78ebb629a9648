"""The ``govconnect`` command line: plugins and catalog commands, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from govconnect import Catalog, load_registry, to_json
from govconnect._export import public_resources
from govconnect.cli import build

runner = CliRunner()
app = build()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_help_everywhere() -> None:
    for args in (
        ["--help"],
        ["plugins", "--help"],
        ["catalog", "--help"],
        ["catalog", "diff", "-h"],
    ):
        result = run(*args)
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output


def test_plugins_lists_plugins_connectors_and_services() -> None:
    result = run("plugins", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert "household" in {p["plugin"] for p in data["plugins"]}
    (household,) = [c for c in data["connectors"] if c["connector"] == "household"]
    assert {s["service"] for s in household["services"]} == {"resident", "residents", "population"}
    assert data["errors"] == []
    table = run("plugins")
    assert table.exit_code == 0 and "household" in table.output


def test_catalog_show() -> None:
    result = run("catalog", "show")
    assert result.exit_code == 0, result.output
    assert "111112001/0001" in result.output
    data = json.loads(run("catalog", "show", "--json").output)
    assert {r["code"] for r in data["resources"]} >= {"111112001/0001", "111112001/0002"}


@pytest.mark.parametrize("fmt", ["json", "openapi", "csv", "dcat"])
def test_catalog_export_to_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"catalog.{fmt}"
    result = run("catalog", "export", "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    if fmt == "csv":
        assert text.startswith("资源代码,")
    else:
        json.loads(text)


def test_catalog_export_to_stdout_round_trips() -> None:
    result = run("catalog", "export")
    assert result.exit_code == 0
    Catalog.from_document(json.loads(result.output))


def test_unknown_format_is_a_usage_error() -> None:
    result = run("catalog", "export", "--format", "xls")
    assert result.exit_code == 2
    assert "xls" in result.output


def test_catalog_diff(tmp_path: Path) -> None:
    # Only the household plugin's resources: other installed plugins must not change the numbers.
    loaded = load_registry(config={}).catalog()
    catalog = loaded.model_copy(
        update={"resources": [r for r in loaded.resources if r.connector == "household"]}
    )
    old = tmp_path / "old.json"
    old.write_text(to_json(catalog), encoding="utf-8")
    data = json.loads(to_json(catalog))
    data["resources"][0]["sharing"]["type"] = "unconditional"
    data["resources"][0]["sharing"]["conditions"] = None
    data["resources"] = data["resources"][:2]
    new = tmp_path / "new.json"
    new.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    same = run("catalog", "diff", str(old), str(old))
    assert same.exit_code == 0 and "identical" in same.output
    result = run("catalog", "diff", str(old), str(new))
    assert result.exit_code == 0, result.output
    assert "- resource 111112001/0003" in result.output
    assert "sharing type of 111112001/0001 changed: conditional -> unconditional" in result.output
    as_json = json.loads(run("catalog", "diff", str(old), str(new), "--json").output)
    assert as_json["removed"] == ["111112001/0003"]
    assert run("catalog", "diff", str(old), str(new), "--exit-code").exit_code == 3


def test_catalog_diff_of_an_invalid_document_fails_naming_the_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    data = json.loads(to_json(load_registry(config={}).catalog()))
    data["resources"][0]["sharing"]["conditions"] = None
    bad.write_text(json.dumps(data), encoding="utf-8")
    result = run("catalog", "diff", str(bad), str(bad))
    assert result.exit_code == 1
    assert "sharing.conditions_required" in result.output
    missing = run("catalog", "diff", str(tmp_path / "nope.json"), str(bad))
    assert missing.exit_code == 1 and "no such file" in missing.output
    (tmp_path / "junk.json").write_text("{", encoding="utf-8")
    assert run("catalog", "diff", str(tmp_path / "junk.json"), str(bad)).exit_code == 1


def test_missing_config_file_is_a_failure(tmp_path: Path) -> None:
    result = run("--config", str(tmp_path / "absent.toml"), "plugins")
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_console_script_runs() -> None:
    exe = Path(sys.executable).with_name("govconnect")
    proc = subprocess.run(
        [str(exe), "catalog", "show", "--json"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["resources"]
    usage = subprocess.run(
        [str(exe), "no-such-command"], capture_output=True, text=True, timeout=60
    )
    assert usage.returncode == 2


# --- audit data is hostile too ------------------------------------------------------------------

HOSTILE = ["[/x]", "[bold red]fake[/]", '=HYPERLINK("http://evil")', "+1", "-2", "@SUM(A1)"]


@pytest.fixture
def hostile_log(tmp_path: Path) -> Path:
    """A log whose caller-chosen text is rich markup and spreadsheet formulas — and one record
    written (as by an older gateway) with control characters straight into the table."""
    import sqlite3

    from govconnect.gateway.audit import AuditLog

    path = tmp_path / "hostile.sqlite"
    with AuditLog(path) as log:
        for i, text in enumerate(HOSTILE):
            log.append(
                service=f"D/S/{text}/v1",
                consumer="C1",
                purpose=text,
                officer=text,
                outcome="ok",
                status=200,
                rows=1,
                params_digest=log.params_digest({"citizen_id": "11010519491231002X"}),
                message_id=f"m{i}",
            )
    conn = sqlite3.connect(path)
    with conn:  # unchained on purpose: only the display is under test here
        conn.execute("UPDATE audit SET consumer = 'C1\x1b[2J' WHERE seq = 1")
    conn.close()
    return path


def test_audit_find_and_usage_print_markup_as_text(hostile_log: Path) -> None:
    found = run(
        "audit", "find", "--log", str(hostile_log), "--param", "citizen_id=11010519491231002X"
    )
    assert found.exit_code == 0, found.output
    assert f"{len(HOSTILE)} call(s)" in found.output
    for text in ("[/x]", "[bold", "fake", "@SUM(A1)"):  # the table may wrap a cell
        assert text in found.output  # shown, not interpreted, not hidden
    assert found.output.count(" ok ") == len(HOSTILE)  # every record has its row
    assert "\x1b" not in found.output
    usage = run("audit", "usage", "--log", str(hostile_log))
    assert usage.exit_code == 0, usage.output
    assert "D/S/[/x]/v1" in usage.output and "never" in usage.output


def test_audit_csv_export_defuses_formulas(hostile_log: Path) -> None:
    import csv
    import io

    res = run("audit", "export", "--log", str(hostile_log), "--format", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    purposes = [r["purpose"] for r in rows]
    assert purposes[2:] == ['\'=HYPERLINK("http://evil")', "'+1", "'-2", "'@SUM(A1)"]
    for row in rows:
        assert not any(v.startswith(("=", "+", "-", "@")) for v in row.values())
    jsonl = run("audit", "export", "--log", str(hostile_log))
    assert '"purpose": "=HYPERLINK' in jsonl.output  # JSON lines stay exact


def test_dcat_export_says_how_many_resources_it_left_out(tmp_path: Path) -> None:
    """DCAT holds only open (public) resources; the real entry point says on stderr how many it
    left out, and stdout stays the JSON-LD document."""

    exe = Path(sys.executable).with_name("govconnect")
    done = subprocess.run(
        [str(exe), "catalog", "export", "--format", "dcat"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    shown = {d["dct:identifier"] for d in document["dcat:dataset"]}
    catalog = Catalog.from_document(
        json.loads(
            subprocess.run(
                [str(exe), "catalog", "export"], capture_output=True, text=True, cwd=tmp_path
            ).stdout
        )
    )
    assert shown == {r.code for r in public_resources(catalog)}
    left_out = len(catalog.resources) - len(shown)
    assert left_out > 0  # the installed plugins declare conditional and not-shared resources
    assert f"dcat: {left_out} of {len(catalog.resources)} resource(s) left out" in done.stderr
    assert "open (public)" in done.stderr
