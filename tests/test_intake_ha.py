"""Intake on two nodes (an HA pair): two ``intake run`` processes for the same node share one
PostgreSQL outbox (and so one intake journal) and one legacy database. SIGKILL one of them again
and again mid-round and restart it: every case is written to the legacy table once, reported to
the platform once (one ``accepted``), and acknowledged; nothing is lost.

The legacy table here has **no** unique key on the case id (as many old systems' tables do not),
so only the journal's per-case claims keep two processes from both inserting a case: the sink's
own check-then-insert is not atomic across processes. The platform is the mock, a real HTTP server
on loopback in this process. Every wait is bounded.
"""

from __future__ import annotations

import collections
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from govconnect_household import create_sample_database, sample_cases

from govconnect.testing import MockPlatform
from govconnect.testing._databases import database_url, unique_name
from tests.outbox_support import outbox_location

psycopg = pytest.importorskip("psycopg")

NODE = "11010500000/HJGL"

NODE_PROCESS = f"""
import json, sys, time
from govconnect import DeliveryWorker, ExchangeClient, IntakeBridge, Outbox, RetryPolicy
from govconnect import load_registry
platform_url, token, legacy_url, residents, applications, location, lease, seconds = sys.argv[1:9]
settings = {{"url": legacy_url, "table": residents, "applications_table": applications}}
registry = load_registry(config={{"connectors": {{"household": settings}}}})
retry = RetryPolicy(max_attempts=20, deadline=20, initial=0.01, max_wait=0.1)
client = ExchangeClient(platform_url, token=token, node="{NODE}", user_id="ha", retry=retry)


class Slow:
    # A legacy write that takes a while: kills land mid-case, and the two processes overlap.
    # It keeps the bridge in two-store mode (no ``outbox``, no ``then``): case row, then status,
    # the window that claims and the sink's idempotency must cover (the one-transaction mode's
    # races and kills: tests/test_transactional_outbox.py).
    def __init__(self, inner):
        self.inner = inner

    def write(self, case_id, values):
        time.sleep(0.005)
        return self.inner.write(case_id, values)

    def close(self):
        self.inner.close()


with Outbox(location) as outbox:
    bridge = IntakeBridge(registry, client, outbox, claim_lease=float(lease))
    handler = bridge.handlers["11010500000-HJ-0001"]
    bridge._sinks[handler.matter_code] = Slow(bridge._sink(handler))
    deadline = time.monotonic() + float(seconds)
    while time.monotonic() < deadline:
        report = bridge.run_once(limit=50)
        reported = [o.case_id for o in report.outcomes
                    if o.outcome in ("written", "duplicate", "returned")]
        DeliveryWorker(outbox, client).drain(timeout=10)
        print(json.dumps({{"pulled": report.pulled, "reported": reported,
                          "elsewhere": report.claimed_elsewhere}}), flush=True)
        if report.pulled == 0 and outbox.pending() == 0:
            break
        time.sleep(0.02)
    bridge.close()
"""


@pytest.fixture
def legacy(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A PostgreSQL legacy database whose application table has no key on the case id."""
    url = database_url("postgresql", tmp_path)
    residents, applications = unique_name("ha_res"), unique_name("ha_app")
    create_sample_database(url, count=5, table=residents, applications_table=applications)
    engine = sa.create_engine(url)
    with engine.begin() as conn:  # the same columns, without the primary key
        conn.execute(sa.text(f"ALTER TABLE {applications} DROP CONSTRAINT {applications}_pkey"))
    try:
        yield url, residents, applications
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {applications}, {residents}"))
        engine.dispose()


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", NODE_PROCESS, *argv],
        stdout=log.open("ab"),
        stderr=subprocess.DEVNULL,
    )


def _lines(log: Path) -> list[dict[str, Any]]:
    """What a node printed (the last line of a killed one may be cut short)."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            found.append(json.loads(line))
        except ValueError:
            continue
    return found


def test_two_intake_processes_write_and_report_each_case_once(
    tmp_path: Path, legacy: tuple[str, str, str]
) -> None:
    url, residents, applications = legacy
    rng = random.Random(15)
    cases = list(sample_cases(300, seed=21))
    platform = MockPlatform(seed=15, history=10_000).start()
    try:
        for case in cases:
            platform.enqueue_case(case, node=NODE)
        with outbox_location("postgresql", tmp_path) as location:
            argv = [platform.url, platform.token, url, residents, applications, location]
            argv += ["1.5", "60"]  # claim lease (s), each process's own deadline (s)
            logs = [tmp_path / "node-a.log", tmp_path / "node-b.log"]
            nodes = [_start(argv, logs[0]), _start(argv, logs[1])]
            kills = 0
            deadline = time.monotonic() + 120
            try:
                while kills < 8 and time.monotonic() < deadline:
                    time.sleep(rng.uniform(0.3, 0.9))
                    if len(platform.acknowledged_cases) == len(cases):
                        break  # nothing left to kill amid
                    victim = rng.randrange(2)
                    nodes[victim].send_signal(signal.SIGKILL)
                    nodes[victim].wait(timeout=10)
                    kills += 1
                    nodes[victim] = _start(argv, logs[victim])
                for node in nodes:
                    node.wait(timeout=max(1.0, deadline - time.monotonic()))
            finally:
                for node in nodes:
                    if node.poll() is None:
                        node.kill()
                        node.wait(timeout=10)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = collections.Counter(
                r[0] for r in conn.execute(sa.text(f"SELECT sqbh FROM {applications}"))
            )
        engine.dispose()
        statuses = platform.case_statuses
        acked = platform.acknowledged_cases
    finally:
        platform.stop()
    ids = [c["case_id"] for c in cases]
    written_twice = [i for i in ids if rows[i] > 1]
    reported_twice = [i for i in ids if len(statuses.get(i, [])) > 1]
    by_node = [{i for line in _lines(log) for i in line["reported"]} for log in logs]
    print(
        f"HA intake: {len(ids)} cases, {kills} kills, written {sum(rows.values())} rows,"
        f" written twice {len(written_twice)}, reported twice {len(reported_twice)},"
        f" reported by node a {len(by_node[0])}, by node b {len(by_node[1])}"
    )
    assert kills >= 3, "the nodes finished before they could be killed: more cases"
    assert written_twice == [] and reported_twice == []
    assert [i for i in ids if rows[i] != 1] == []  # nothing lost either
    assert all([s["status"] for s in statuses.get(i, [])] == ["accepted"] for i in ids)
    assert acked == set(ids)
    assert by_node[0] and by_node[1]  # both nodes did work
    assert not by_node[0] & by_node[1]  # and never both reported one case
