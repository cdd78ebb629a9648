"""Rejects that neither flood the platform nor block it: the threshold judges a meaningful base,
rejected rows are remembered until they change, and duplicate keys are refused (``key.unique``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from govconnect_household import create_sample_database

from govconnect import PublishAbortedError

from .cli_support import govconnect
from .test_publish import OFFICES, RESIDENTS, Env, MockPlatform, OfficesPlugin


def _spoil_newest(url: str, count: int, when: datetime) -> list[str]:
    """Give ``count`` residents a gender code too long for the record and make them the
    newest rows (their keys stay the same)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        ids = [
            r[0]
            for r in conn.execute(
                sa.text("SELECT gmsfhm FROM hj_resident ORDER BY gmsfhm LIMIT :n"), {"n": count}
            )
        ]
        conn.execute(
            sa.text("UPDATE hj_resident SET xb = '99', gxsj = :t WHERE gmsfhm IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"t": when, "ids": ids},
        )
    engine.dispose()
    return ids


def _restore(url: str, cid: str, when: datetime) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE hj_resident SET xb = '1', gxsj = :t WHERE gmsfhm = :cid"),
            {"t": when, "cid": cid},
        )
    engine.dispose()


@contextmanager
def household(
    tmp_path: Path, count: int, invalid: int = 0, outbox: str | None = None
) -> Iterator[tuple[Env, str]]:
    """A publisher over a fresh sample household database of ``count`` residents (its outbox
    and state at ``outbox``, else a file)."""
    url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    create_sample_database(url, count=count, invalid=invalid)
    env = Env(tmp_path, url, outbox=outbox)
    try:
        yield env, url
    finally:
        env.close()


def test_three_bad_newest_rows_do_not_block_incremental_publishing(
    tmp_path: Path, outbox_at: str
) -> None:
    with household(tmp_path, 500, outbox=outbox_at) as (env, url):
        assert env.publisher.publish(RESIDENTS).published == 500
        ids = _spoil_newest(url, 3, datetime(2030, 1, 1))
        first = env.publisher.publish(RESIDENTS)  # 3 of 3 read are bad: 0.6 % of the dataset
        assert (first.read, first.rejected, first.still_rejected, first.published) == (3, 3, 0, 0)
        assert len(Path(first.rejects_file or "").read_text().splitlines()) == 3
        again = env.publisher.publish(RESIDENTS)  # unchanged: remembered, not judged again
        assert (again.read, again.rejected, again.still_rejected) == (3, 0, 3)
        assert again.rejects_file is None
        _restore(url, ids[0], datetime(2030, 1, 2))  # one is fixed at the source
        fixed = env.publisher.publish(RESIDENTS)
        assert (fixed.published, fixed.rejected, fixed.still_rejected) == (1, 0, 2)
        assert set(env.publisher.state.remembered_rejects(RESIDENTS)) == set(ids[1:])


def test_a_broken_first_publication_still_stops_and_is_judged_again(
    tmp_path: Path, outbox_at: str
) -> None:
    with household(tmp_path, 10, invalid=5, outbox=outbox_at) as (env, _):
        for _ in range(2):  # an aborted run remembers nothing: the next one stops as well
            with pytest.raises(PublishAbortedError, match=r"5 of 10 records read failed"):
                env.publisher.publish(RESIDENTS)
        assert env.publisher.state.remembered_rejects(RESIDENTS) == {}
        assert env.outbox.pending() == 0


def test_duplicate_keys_are_rejected_within_and_across_batches(
    tmp_path: Path, mock_platform: MockPlatform, outbox_at: str
) -> None:
    OFFICES[:] = [{"code": f"O{i:03d}", "name": f"办事处{i}"} for i in range(250)]
    OFFICES.insert(7, {"code": "O003", "name": "重复 in the same batch"})
    OFFICES.append({"code": "O120", "name": "重复 in a later batch"})
    env = Env(
        tmp_path, f"sqlite:///{tmp_path / 'x.sqlite'}", plugins=[OfficesPlugin()], outbox=outbox_at
    )
    try:
        report = env.publisher.publish("311112001/0001")
        assert (report.read, report.published, report.duplicates, report.rejected) == (
            252,
            250,
            2,
            2,
        )
        lines = [json.loads(x) for x in Path(report.rejects_file or "").read_text().splitlines()]
        assert {(r["key"], r["field"], r["rule"]) for r in lines} == {
            ("O003", "code", "key.unique"),
            ("O120", "code", "key.unique"),
        }
        env.deliver(mock_platform)
        latest = mock_platform.latest("311112001/0001")
        assert latest["O003"]["data"]["name"] == "办事处3"  # the first one, not the last
        assert latest["O120"]["data"]["name"] == "办事处120"
        second = env.publisher.publish("311112001/0001")  # nothing changed, nothing deleted
        assert (second.published, second.deleted, second.duplicates) == (0, 0, 2)
    finally:
        env.close()


def _legacy_with_duplicates(tmp_path: Path) -> dict[str, str]:
    """A resident table without a primary key, one citizen ID twice (as legacy tables do)."""
    url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    create_sample_database(url, count=40)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE hj_copy AS SELECT * FROM hj_resident"))
        conn.execute(
            sa.text(
                "INSERT INTO hj_copy SELECT gmsfhm, '另一人', xb, mz, csrq, hh, yhzgx, hjdz, xzqh,"
                " lxdh, zt, djrq, :t FROM hj_resident LIMIT 1"
            ),
            {"t": datetime(2031, 1, 1)},
        )
    engine.dispose()
    return {"GOVCONNECT_HOUSEHOLD_URL": url, "GOVCONNECT_HOUSEHOLD_TABLE": "hj_copy"}


def test_publish_reports_duplicate_keys_through_the_command(tmp_path: Path) -> None:
    env = _legacy_with_duplicates(tmp_path)
    ran = govconnect("publish", RESIDENTS, "--json", cwd=tmp_path, env=env)
    assert ran.code == 0, ran.output
    (report,) = json.loads(ran.out)["datasets"]
    assert (report["read"], report["published"], report["duplicates"]) == (41, 40, 1)
    rule = json.loads(Path(tmp_path, report["rejects_file"]).read_text().splitlines()[0])["rule"]
    assert rule == "key.unique"
    table = govconnect("publish", RESIDENTS, "--full", cwd=tmp_path, env=env)
    assert table.code == 0 and "Traceback" not in table.output
    assert "1 new, 1 duplicate key(s) [key.unique]" in table.out


def test_the_threshold_rule_through_the_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    create_sample_database(url, count=300)
    env: dict[str, Any] = {"GOVCONNECT_HOUSEHOLD_URL": url}
    assert govconnect("publish", RESIDENTS, cwd=tmp_path, env=env).code == 0
    _spoil_newest(url, 3, datetime(2030, 1, 1))
    for expected in ("3 new", "3 still rejected"):
        ran = govconnect("publish", RESIDENTS, cwd=tmp_path, env=env)
        assert ran.code == 0, ran.output
        assert "failed validation" not in ran.output and "Traceback" not in ran.output
        assert expected in ran.out
