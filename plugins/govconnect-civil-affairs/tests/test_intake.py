"""Applications from the one window reach the case system's inbox as fixed-width GB18030 files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from govconnect import (
    DeliveryWorker,
    ExchangeClient,
    IntakeBridge,
    IntakeJournal,
    Outbox,
    load_registry,
)
from govconnect.testing import MockPlatform

from govconnect_civil_affairs import APPLY_MATTER, sample_applications
from govconnect_civil_affairs.layout import RECORD_BYTES, decode_line
from govconnect_civil_affairs.sample import (
    sample_cases,
    write_drop_file,
    write_sample_drop,
    yuan_to_fen,
)

NODE = "11010500MZ/SHJZ"


class Env:
    """The intake bridge for the civil-affairs connector against a mock platform."""

    def __init__(self, tmp: Path, platform: MockPlatform) -> None:
        self.inbox = tmp / "inbox"
        self.drop = tmp / "drop"
        write_sample_drop(self.drop, count=10)  # the system's own cases, decided long ago
        settings = {"drop_dir": str(tmp / "drop"), "inbox_dir": str(self.inbox)}
        self.registry = load_registry(config={"connectors": {"civil_affairs": settings}})
        self.platform = platform
        self.client = ExchangeClient(platform.url, token=platform.token, node=NODE, user_id="t")
        self.outbox = Outbox(tmp / "outbox.sqlite")
        self.journal = IntakeJournal(self.outbox.path)
        self.bridge = IntakeBridge(
            self.registry, self.client, self.outbox, self.journal, connectors=["civil_affairs"]
        )

    def submit(self, *cases: dict[str, Any]) -> None:
        for case in cases:
            self.platform.enqueue_case(case, node=NODE)

    def close(self) -> None:
        self.bridge.close()
        self.journal.close()
        self.outbox.close()
        self.client.close()


@pytest.fixture
def env(tmp_path: Path, mock_platform: MockPlatform) -> Iterator[Env]:
    e = Env(tmp_path, mock_platform)
    yield e
    e.close()


def test_applications_become_fixed_width_lines_in_the_inbox(env: Env) -> None:
    cases = list(sample_applications(5))
    env.submit(*cases)
    report = env.bridge.run_once(limit=50)
    assert report.written == 5, [o.problems for o in report.outcomes]
    for case in cases:
        raw = (env.inbox / f"MZSQ_{case['case_id']}.dat").read_bytes()
        assert len(raw) == RECORD_BYTES + 2 and raw.endswith(b"\r\n")
        values = decode_line(raw)
        assert values["AJBH"] == case["case_id"]
        assert values["SFZH"] == case["applicant"]["citizen_id"]
        assert values["XM"] == case["applicant"]["name"]
        assert values["JZLB"] == "03"
        assert int(values["JZJE"]) == yuan_to_fen(case["form"]["amount"])
        assert values["AJZT"] == "1"
        assert (env.inbox / f"MZSQ_{case['case_id']}.manifest.json").is_file()


def test_a_redelivered_application_is_not_dropped_twice(env: Env) -> None:
    [case] = sample_applications(1)
    handler = env.registry.connector_class("civil_affairs").intake_handlers()[APPLY_MATTER]
    env.submit(case)
    assert env.bridge.run_once().written == 1
    before = sorted(p.name for p in env.inbox.iterdir())
    with env.registry.connector("civil_affairs") as connector:
        assert handler.sink(connector).write(case["case_id"], {}).applied is False
    assert sorted(p.name for p in env.inbox.iterdir()) == before


def test_a_bad_amount_is_returned_naming_the_field(env: Env) -> None:
    [case] = sample_applications(1)
    case["form"]["amount"] = "两千元"
    env.submit(case)
    report = env.bridge.run_once()
    assert report.returned == 1
    [outcome] = report.outcomes
    assert any(p.field.endswith("JZJE") for p in outcome.problems), outcome.problems
    assert not env.inbox.exists() or not any(env.inbox.iterdir())


def test_the_clerks_decisions_come_back_from_the_next_drop_files(env: Env) -> None:
    """The applications reappear in the system's next nightly file under their case ids, with
    the clerks' decisions: each goes back to the platform once; the system's own cases (in the
    same files, decided too) are not the platform's business and are not reported."""
    cases = list(sample_applications(3))
    env.submit(*cases)
    assert env.bridge.run_once().written == 3
    decided = []
    for case, code in zip(cases, "234", strict=True):
        values = decode_line((env.inbox / f"MZSQ_{case['case_id']}.dat").read_bytes())
        decided.append({**values, "AJZT": code, "GXSJ": "20260107200000"})
    own = list(sample_cases(4, seed=99))  # statuses 1-4, other case numbers
    write_drop_file(env.drop / "MZJZ_20260107_001.DAT", own + decided)

    assert env.bridge.poll_statuses() == 3
    assert env.bridge.poll_statuses() == 0  # the bookmark and the journal: nothing twice
    DeliveryWorker(env.outbox, env.client).drain(timeout=30)
    history = {c["case_id"]: env.platform.case_statuses[c["case_id"]] for c in cases}
    in_progress, approved, ended = (history[c["case_id"]] for c in cases)
    assert [h["status"] for h in in_progress] == ["accepted", "in_progress"]
    assert [h["status"] for h in approved] == ["accepted", "completed"]
    assert approved[-1]["result"] == {
        "category": "临时救助",
        "monthly_amount": f"{int(decided[1]['JZJE']) / 100:.2f}",
    }
    assert [h["status"] for h in ended] == ["accepted", "returned"]
    assert ended[-1]["reasons"] == ["救助申请已终止"]
    assert set(env.platform.case_statuses) == {c["case_id"] for c in cases}
    assert env.outbox.dead_letters() == []


def test_a_broken_drop_file_fails_the_poll_not_the_round_and_keeps_what_was_read(
    env: Env,
) -> None:
    """A drop file whose trailer miscounts its lines stops the status poll where it is: what was
    read before it is reported, the failure is counted in the round's report, and the next round
    polls again (the bookmark moved only past what was read)."""
    cases = list(sample_applications(2))
    env.submit(*cases)
    env.bridge.run_once()
    decided = [
        {**decode_line((env.inbox / f"MZSQ_{c['case_id']}.dat").read_bytes()), "AJZT": "3"}
        for c in cases
    ]
    decided[0]["GXSJ"], decided[1]["GXSJ"] = "20260107200000", "20260108200000"
    write_drop_file(env.drop / "MZJZ_20260107_001.DAT", decided[:1])
    broken = env.drop / "MZJZ_20260108_001.DAT"
    write_drop_file(broken, decided[1:])
    broken.write_bytes(broken.read_bytes().replace(b"T000000001", b"T000000002"))

    report = env.bridge.run_once()
    assert (report.statuses_enqueued, report.poll_errors) == (1, 1)
    write_drop_file(broken, decided[1:])  # the system writes it again, whole
    report = env.bridge.run_once()
    assert (report.statuses_enqueued, report.poll_errors) == (1, 0)


def test_yuan_to_fen() -> None:
    assert yuan_to_fen("2000.00") == 200000
    assert yuan_to_fen(12.5) == 1250
    with pytest.raises(ValueError):
        yuan_to_fen("0.001")
