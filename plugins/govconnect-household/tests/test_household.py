"""The household-registration connector against real databases: SQLite, PostgreSQL, MariaDB."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from govconnect_household import (
    HouseholdConnector,
    Resident,
    create_sample_database,
    sample_residents,
)

from govconnect import CitizenId, InvalidInputError, load_registry
from govconnect.testing._databases import unique_name

COUNT = 600


@pytest.fixture
def connector(sql_url: str) -> Iterator[HouseholdConnector]:
    table, applications = unique_name("hj"), unique_name("qr")
    created = create_sample_database(
        sql_url, count=COUNT, seed=3, table=table, applications_table=applications
    )
    assert created == COUNT
    conn = HouseholdConnector(
        {"url": sql_url, "table": table, "applications_table": applications, "chunk_size": 100}
    )
    try:
        yield conn
    finally:
        with conn.engine.begin() as c:
            conn.table.drop(c, checkfirst=True)
            conn.applications.drop(c, checkfirst=True)
        conn.close()


def test_sample_rows_have_valid_unique_ids() -> None:
    rows = list(sample_residents(2000, seed=11))
    ids = [r["gmsfhm"] for r in rows]
    assert len(set(ids)) == 2000
    for cid in ids:
        CitizenId.parse(cid)
    assert {r["xb"] for r in rows} == {"1", "2"}
    assert all(CitizenId.parse(r["gmsfhm"]).gender_code == r["xb"] for r in rows)


def test_sample_is_deterministic_and_can_include_dirty_rows() -> None:
    assert list(sample_residents(50, seed=1)) == list(sample_residents(50, seed=1))
    rows = list(sample_residents(200, seed=1, invalid=5))
    bad = 0
    for r in rows:
        try:
            CitizenId.parse(r["gmsfhm"])
        except InvalidInputError:
            bad += 1
    assert bad == 5


def test_lookup_by_citizen_id(connector: HouseholdConnector) -> None:
    some = next(iter(sample_residents(1, seed=3)))
    (found,) = connector.run("resident", {"citizen_id": some["gmsfhm"]})
    assert isinstance(found, Resident)
    assert found.name == some["xm"]
    assert found.birth_date == some["csrq"]
    assert list(connector.run("resident", {"citizen_id": "11010519491231002X"})) == []


def test_lookup_refuses_a_bad_id_before_querying(connector: HouseholdConnector) -> None:
    with pytest.raises(InvalidInputError) as info:
        list(connector.run("resident", {"citizen_id": "110105194912310021"}))
    assert info.value.problems[0].rule == "citizen_id.check_digit"


def test_dataset_streams_every_resident_in_update_order(connector: HouseholdConnector) -> None:
    records = list(connector.run("residents"))
    assert len(records) == COUNT
    assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
    since = records[399].updated_at
    assert len(list(connector.run("residents", {"since": since}))) == COUNT - 400


def test_resident_id_ranges_cover_every_resident_once(connector: HouseholdConnector) -> None:
    """``publish --workers 4``: the split's cuts make four ranges of about equal size that the
    dataset filters in the database, and together they are the whole table, each resident once."""
    cuts = connector.resident_id_quantiles(4)
    assert len(cuts) == 3 and cuts == sorted(cuts)
    bounds = [None, *cuts, None]
    seen: list[str] = []
    for lower, upper in itertools.pairwise(bounds):
        ids = [
            str(r.citizen_id)
            for r in connector.run("residents", {"key_from": lower, "key_to": upper})
        ]
        assert all(lower is None or i >= lower for i in ids)
        assert all(upper is None or i < upper for i in ids)
        assert COUNT // 4 - 2 <= len(ids) <= COUNT // 4 + 2
        seen += ids
    assert sorted(seen) == sorted(str(r.citizen_id) for r in connector.run("residents"))
    assert len(set(seen)) == COUNT


def test_population_statistics_add_up(connector: HouseholdConnector) -> None:
    stats = list(connector.run("population"))
    with connector.engine.connect() as c:
        active = c.execute(
            sa.select(sa.func.count())
            .select_from(connector.table)
            .where(connector.table.c.zt == "1")
        ).scalar_one()
    assert sum(s.residents for s in stats) == active
    assert all(s.male + s.female == s.residents for s in stats)


def test_catalog_of_the_plugin_is_valid() -> None:
    reg = load_registry(config={})
    codes = [s.code for s in reg.services("household")]
    assert codes == ["111112001/0001", "111112001/0002", "111112001/0003"]
    assert reg.catalog_problems() == []
    dataset = reg.connector_class("household").service("residents")
    assert dataset.resource.sharing.type.value == "conditional"
    assert dataset.resource.update_cycle.value == "daily"


def test_settings_come_from_config_file(tmp_path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    (tmp_path / "govconnect.toml").write_text(
        f'[connectors.household]\nurl = "{url}"\ntable = "hj_resident"\n', encoding="utf-8"
    )
    monkeypatch.chdir(tmp_path)
    create_sample_database(url, count=10)
    reg = load_registry()
    with reg.connector("household") as conn:
        assert conn.settings.url == url
        assert len(list(conn.run("residents"))) == 10
