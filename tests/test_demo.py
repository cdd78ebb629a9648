"""The demo's own numbers: every valid case written exactly once, every invalid case returned."""

from __future__ import annotations

import json
import re
from pathlib import Path

import sqlalchemy as sa
from govconnect_household import sample_cases
from typer.testing import CliRunner

from govconnect import load_registry
from govconnect.cli import build
from govconnect.cli.story import run_demo


def test_demo_numbers_add_up(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    summary = run_demo(workdir, cases=60, invalid=10, residents=200, faults="flaky", seed=3)
    assert summary["catalog_problems"] == []
    # only what the demo sets up: household's three resources, whatever else is installed
    assert summary["catalog_registered"] == 3
    assert len(load_registry(config={}).catalog().resources) >= 3
    assert summary["cases_submitted"] == 60
    assert summary["cases_written_to_legacy"] == 50
    assert summary["cases_returned_with_reasons"] == 10
    assert sum(summary["returned_by_rule"].values()) >= 10
    assert summary["cases_deferred"] == 0
    assert summary["cases_acknowledged"] == 60
    assert summary["outbox_dead_letters"] == 0
    # one accepted/returned per case, plus one per legacy status change the clerks made
    assert summary["statuses_delivered"] == 60 + summary["status_changes_polled"]
    assert summary["fields_not_retyped"] == 50 * 17

    engine = sa.create_engine(f"sqlite:///{workdir / 'household.sqlite'}")
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT sqbh FROM hj_qrsq"))]
    engine.dispose()
    cases = list(sample_cases(60, seed=3, invalid=10))
    valid = set()
    for case in cases:
        rows = ids.count(case["case_id"])
        assert rows in (0, 1), f"{case['case_id']} written {rows} times"
        if rows:
            valid.add(case["case_id"])
    assert len(valid) == 50 == len(ids)
    for name in ("catalog.json", "catalog.openapi.json", "catalog.csv", "catalog.dcat.jsonld"):
        assert (workdir / name).stat().st_size > 0


def test_the_demo_clerks_are_verified_officers(tmp_path: Path) -> None:
    """The gateway chapter: the clerks' lookups carry tokens of the mock authentication center,
    two tokens that must not work are refused naming their rules, and the audit log finds the
    calls by verified officer."""
    from govconnect.gateway.audit import AuditLog
    from govconnect.gateway.policy import load_gateway_config

    workdir = tmp_path / "demo"
    summary = run_demo(workdir, cases=12, invalid=2, residents=50, faults="none", seed=3)
    assert summary["gateway_lookups_by_verified_officers"] == 3
    assert summary["gateway_refused_by_rule"] == {"officer.client": 1, "officer.department": 1}
    assert summary["audit_calls_by_officer"] == {
        "wangfang": {"served": 2, "refused": 1},
        "lina": {"served": 1},
        "zhaolei": {"refused": 1},
    }
    assert summary["audit_calls_by_verified_officers"] == 5
    assert summary["audit_chain_intact"] is True
    config = load_gateway_config(workdir / "gateway.toml")
    assert [i.issuer.startswith("http://127.0.0.1:") for i in config.issuers] == [True]
    assert config.gateway.officer_binding == "required"
    assert all(c.client_ids for c in config.consumers)
    with AuditLog(workdir / "audit.sqlite") as audit:
        records = list(audit.records())
    assert [r.officer_auth for r in records] == ["verified"] * 5
    assert all(r.officer is None for r in records)  # nobody's name was merely claimed


def test_demo_cli_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build(),
        [
            "demo",
            "--dir",
            str(tmp_path / "d"),
            "--cases",
            "12",
            "--invalid",
            "2",
            "--residents",
            "50",
            "--faults",
            "none",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["cases_written_to_legacy"], summary["cases_returned_with_reasons"]) == (10, 2)


def test_demo_refuses_more_invalid_than_cases(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        build(), ["demo", "--dir", str(tmp_path), "--cases", "2", "--invalid", "3"]
    )
    assert result.exit_code == 2


def test_demo_through_the_command_is_hermetic(tmp_path: Path) -> None:
    """Run as a user does, with another plugin installed and a household setting in the shell:
    no warning, the same numbers as in-process, nothing outside its folder."""
    from .cli_support import govconnect

    args = ["demo", "--dir", "d", "--cases", "12", "--invalid", "2", "--residents", "50"]
    env = {"GOVCONNECT_HOUSEHOLD_TABLE": "not_the_demo_table"}
    first = govconnect(*args, "--faults", "flaky", "--json", cwd=tmp_path, env=env)
    assert first.code == 0, first.output
    assert first.err == ""  # no "status poll of civil_affairs failed" or any other warning
    summary = json.loads(first.out)
    assert summary["catalog_registered"] == 3
    again = govconnect(*args, "--faults", "flaky", "--json", cwd=tmp_path)
    numbers = {k: v for k, v in summary.items() if k not in ("elapsed_seconds", "exports")}
    assert {k: v for k, v in json.loads(again.out).items() if k in numbers} == numbers
    table = govconnect(*args, "--faults", "none", cwd=tmp_path)
    assert table.code == 0 and table.err == "" and "Traceback" not in table.output
    assert re.search(r"catalogued resources registered\s*│\s*3\s*│", table.out)
    assert (
        "gateway: 3 lookups by verified officers (issuer: the mock authentication center on "
        "127.0.0.1); 2 refused: officer.client 1 (a token issued to another system), "
        "officer.department 1 (an officer of another department)"
    ) in " ".join(table.out.split())
    assert (
        "audit: 5 calls by verified officers, chain intact; audit find --officer: "
        "wangfang 3 (1 refused), lina 1, zhaolei 1 (1 refused)"
    ) in " ".join(table.out.split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_the_readme_shows_what_the_demo_prints(tmp_path: Path) -> None:
    """The README's demo excerpt is the demo's real output, line for line (the demo is seeded):
    only the elapsed seconds (and so the table's width) may differ. A change to what the demo
    prints must update the README."""
    from .cli_support import govconnect

    def text(lines: list[str]) -> list[str]:  # a table row's words, without its borders
        words = [" ".join(re.sub(r"[\u2500-\u257f]", " ", line).split()) for line in lines]
        return [w for w in words if w and not w.startswith("elapsed seconds")]

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    excerpt = readme.split("```\nWhat happened\n", 1)[1].split("\n```", 1)[0]
    ran = govconnect("demo", cwd=tmp_path)  # the default folder, as the README shows
    assert ran.code == 0, ran.output
    printed = text(ran.out.splitlines())
    for line in text(excerpt.splitlines()):
        assert line in printed, f"README line not printed: {line}"
