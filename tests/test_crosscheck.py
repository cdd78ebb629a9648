"""One number, one source, multi-source cross-check: planted conflicts found exactly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from govconnect import load_registry
from govconnect.catalog.codetables import GENDER
from govconnect.catalog.model import Catalog
from govconnect.crosscheck import crosscheck, normalise
from govconnect.testing._databases import database_url, unique_name

from . import crosscheck_support
from .cli_support import govconnect
from .crosscheck_support import citizen_id, plant

N = 300


@pytest.fixture(params=["sqlite", "postgresql"])
def planted(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict, dict]]:
    """Tables of the three sources on one engine, their connector config and the plants."""
    url = database_url(request.param, tmp_path)
    engine = sa.create_engine(url)
    names = {w: unique_name(f"xc_{w}") for w in ("register", "civil", "social")}
    plants = plant(engine, names, N)
    config = {"connectors": {f"xc_{w}": {"url": url, "table": t} for w, t in names.items()}}
    try:
        yield config, plants
    finally:
        with engine.begin() as conn:
            for t in names.values():
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {t}"))
        engine.dispose()


def _registry(config: dict) -> object:
    return load_registry(plugins=[crosscheck_support], entry_points=False, config=config)


def test_planted_conflicts_are_found_exactly(planted: tuple[dict, dict]) -> None:
    config, plants = planted
    report = crosscheck(_registry(config), key="citizen_id")
    found = {(c.key, c.element) for c in report.conflicts}
    assert found == set(plants)  # no misses, no false positives after normalisation
    by_element: dict[str, int] = {}
    for _, element in plants:
        by_element[element] = by_element.get(element, 0) + 1
    assert report.conflicts_by_element == dict(sorted(by_element.items()))
    assert report.duplicates == {
        "xc_civil.people": 1,
        "xc_register.people": 0,
        "xc_social.people": 0,
    }
    assert report.sources["xc_register.people"].keys_compared == N
    assert report.sources["xc_social.people"].keys_compared == (N + 2) // 3
    assert report.sources["xc_civil.people"].records == N + 1
    for c in report.conflicts:
        assert c.authoritative == "xc_register.people"
        assert set(plants[(c.key, c.element)]) <= set(c.values)
    assert sum(report.conflicts_by_pair.values()) >= report.conflicts_total


def test_elements_narrow_the_check(planted: tuple[dict, dict]) -> None:
    config, plants = planted
    report = crosscheck(_registry(config), key="citizen_id", elements=["住址"])
    assert {(c.key, c.element) for c in report.conflicts} == {p for p in plants if p[1] == "住址"}
    assert set(report.sources) == {"xc_register.people", "xc_civil.people"}


def test_report_masks_keys_and_personal_values_by_default(planted: tuple[dict, dict]) -> None:
    config, _ = planted
    report = crosscheck(_registry(config), key="citizen_id")
    masked = json.dumps(report.as_dict(), ensure_ascii=False)
    revealed = report.as_dict(reveal=True)
    for c in revealed["conflicts"]:
        assert c["key"] not in masked
        for value in c["values"].values():
            assert str(value) not in masked
    assert revealed["conflicts_total"] == report.conflicts_total


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("张三", " 张 三 "),
        ("北京市朝阳区12号", "北京市朝阳区１２号"),
        ("1990-01-02", "1990年1月2日"),
        ("1990-01-02", "19900102"),
        ("ABC", "ａｂｃ"),
    ],
)
def test_normalisation_equates_spellings(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)


def test_code_table_codes_equal_their_labels() -> None:
    assert normalise("1", GENDER) == normalise("男", GENDER)
    assert normalise("2", GENDER) != normalise("男", GENDER)


def test_catalog_rule_one_authoritative_source_per_element_and_key_type() -> None:
    catalog = _registry({}).catalog()  # type: ignore[attr-defined]
    assert not [p for p in catalog.problems() if p.rule.startswith("authoritative")]
    doc = json.loads(catalog.model_dump_json())
    civil = next(r for r in doc["resources"] if r["code"] == "111112001/9002")
    civil["authoritative"] = ["姓名"]
    with pytest.raises(Exception) as raised:
        Catalog.from_document(doc)
    problems = [p for p in raised.value.problems if p.rule == "authoritative.unique"]
    assert len(problems) == 1
    assert "111112001/9001" in problems[0].message and "111112001/9002" in problems[0].message
    social = next(r for r in doc["resources"] if r["code"] == "111112001/9003")
    civil["authoritative"] = []
    social["authoritative"] = ["出生日期"]  # the social dataset carries no birth date
    with pytest.raises(Exception) as raised:
        Catalog.from_document(doc)
    assert [p.rule for p in raised.value.problems] == ["authoritative.carried"]


def test_catalog_exports_carry_elements() -> None:
    from govconnect._export import to_csv

    catalog = _registry({}).catalog()  # type: ignore[attr-defined]
    register = catalog.get("111112001/9001")
    assert {i.name: i.element for i in register.items}["born"] == "出生日期"
    assert register.authoritative == ["姓名", "出生日期", "住址", "性别"]
    rows = to_csv(catalog).splitlines()
    assert rows[0].endswith("数据元,权威来源")
    assert any(r.startswith("111112001/9002") and r.endswith("姓名,否") for r in rows)
    assert any(r.startswith("111112001/9001") and r.endswith("姓名,是") for r in rows)


def _plugin_on_path(tmp_path: Path) -> dict[str, str]:
    """The test connectors installed as an entry-point plugin for a real ``govconnect``
    subprocess: a dist-info folder on PYTHONPATH is all importlib.metadata needs."""
    site = tmp_path / "site"
    dist = site / "xc_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: xc-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[govconnect]\nxc = tests.crosscheck_support\n")
    root = Path(__file__).resolve().parents[1]
    return {"PYTHONPATH": f"{site}:{root}"}


def _write_config(tmp_path: Path, config: dict) -> None:
    lines = [f'[govconnect]\nstate_dir = "{tmp_path / "state"}"\n']
    for name, section in config["connectors"].items():
        lines.append(f"[connectors.{name}]\n")
        lines += [f'{k} = "{v}"\n' for k, v in section.items()]
    (tmp_path / "govconnect.toml").write_text("".join(lines))


def test_cli_exit_codes_masking_and_audited_reveal(tmp_path: Path) -> None:
    url = database_url("sqlite", tmp_path)
    engine = sa.create_engine(url)
    plants = plant(engine, {"register": "r", "civil": "c", "social": "s"}, 40)
    engine.dispose()
    config = {
        "connectors": {
            "xc_register": {"url": url, "table": "r"},
            "xc_civil": {"url": url, "table": "c"},
            "xc_social": {"url": url, "table": "s"},
        }
    }
    _write_config(tmp_path, config)
    env = _plugin_on_path(tmp_path)
    ran = govconnect("crosscheck", "--key", "citizen_id", "--json", cwd=tmp_path, env=env)
    assert ran.code == 3, ran.output
    doc = json.loads(ran.out)
    assert list(doc)[:3] == ["key", "sources", "conflicts_total"]
    assert {"conflicts_by_element", "duplicates", "conflicts"} <= set(doc)
    assert doc["conflicts_total"] == len(plants)
    for key, _ in plants:
        assert key not in ran.output  # masked by default
    assert not (tmp_path / "state" / "audit.sqlite").exists()

    ran = govconnect("crosscheck", "--reveal", "--json", "-o", "out.json", cwd=tmp_path, env=env)
    assert ran.code == 3, ran.output
    revealed = json.loads((tmp_path / "out.json").read_text())
    assert {(c["key"], c["element"]) for c in revealed["conflicts"]} == set(plants)
    ran = govconnect(
        "audit", "export", "--log", str(tmp_path / "state" / "audit.sqlite"), cwd=tmp_path, env=env
    )
    assert ran.code == 0 and "crosscheck" in ran.out and "revealed" in ran.out, ran.output

    ran = govconnect("crosscheck", "--element", "性别", cwd=tmp_path, env=env)
    assert ran.code == 0, ran.output  # codes and labels of one gender agree
    assert "conflicts: 0" in ran.out

    ran = govconnect("crosscheck", "--element", "户号", cwd=tmp_path, env=env)
    assert ran.code == 1 and "户号" in ran.err and "Traceback" not in ran.output
    ran = govconnect("crosscheck", "--key", "credit_code", cwd=tmp_path, env=env)
    assert ran.code == 1 and "credit_code" in ran.err and "Traceback" not in ran.output


def test_citizen_ids_of_the_fixture_are_valid() -> None:
    from pydantic import TypeAdapter

    from govconnect import CitizenId

    TypeAdapter(CitizenId).validate_python(citizen_id(7)[0])


def test_invalid_records_are_counted_and_a_failing_source_is_named(tmp_path: Path) -> None:
    from govconnect import ConnectorError

    url = database_url("sqlite", tmp_path)
    engine = sa.create_engine(url)
    plants = plant(engine, {"register": "r", "civil": "c", "social": "s"}, 30)
    with engine.begin() as conn:  # a wrong check digit: cannot be joined, counted, not compared
        conn.execute(sa.text("INSERT INTO s VALUES ('110105195001010011', '某某')"))
    engine.dispose()
    tables = {"xc_register": "r", "xc_civil": "c", "xc_social": "s"}
    config = {"connectors": {n: {"url": url, "table": t} for n, t in tables.items()}}
    report = crosscheck(_registry(config), key="citizen_id")
    assert report.sources["xc_social.people"].invalid == 1
    assert {(c.key, c.element) for c in report.conflicts} == set(plants)
    config["connectors"]["xc_civil"]["table"] = "missing"
    with pytest.raises(ConnectorError) as raised:
        crosscheck(_registry(config), key="citizen_id")
    assert "xc_civil" in str(raised.value) and "people" in str(raised.value)


def test_demo_chapter_finds_the_planted_household_civil_affairs_conflicts(tmp_path: Path) -> None:
    pytest.importorskip("govconnect_civil_affairs")
    from govconnect_household import HouseholdConnector, create_sample_database

    from govconnect.cli._story_crosscheck import PLANTED, crosscheck_chapter

    url = f"sqlite:///{tmp_path / 'household.sqlite'}"
    create_sample_database(url, count=400)
    chapter = crosscheck_chapter(tmp_path, HouseholdConnector.Settings(url=url).model_dump())
    assert chapter["crosscheck_found"] == dict(sorted(PLANTED.items()))
    assert chapter["crosscheck_sources"]["civil_affairs.cases"]["keys_compared"] == 200
    assert chapter["crosscheck_notices_sent"] == sum(PLANTED.values())


def test_json_is_streamed_from_disk_and_identical_to_the_whole_document(tmp_path: Path) -> None:
    import io

    from govconnect.crosscheck import ConflictLog, write_json

    url = database_url("sqlite", tmp_path)
    engine = sa.create_engine(url)
    plant(engine, {"register": "r", "civil": "c", "social": "s"}, 40)
    engine.dispose()
    tables = {"xc_register": "r", "xc_civil": "c", "xc_social": "s"}
    config = {"connectors": {n: {"url": url, "table": t} for n, t in tables.items()}}
    with crosscheck(_registry(config), key="citizen_id", workdir=tmp_path) as report:
        assert isinstance(report.conflicts, ConflictLog)  # on disk, not a list in memory
        assert [p.name for p in tmp_path.glob("govconnect-crosscheck-*/*")] == ["conflicts.sqlite"]
        assert len(list(report.conflicts)) == report.conflicts_total > 0
        for reveal, extra in ((False, None), (True, {"corrections": {"queued": 2}})):
            streamed = io.StringIO()
            write_json(report, streamed, reveal=reveal, extra=extra)
            whole = report.as_dict(reveal=reveal)
            if extra:
                conflicts = whole.pop("conflicts")
                whole = {**whole, **extra, "conflicts": conflicts}
            assert streamed.getvalue() == json.dumps(whole, ensure_ascii=False, indent=2) + "\n"
        report.conflicts = []  # an empty report streams as `"conflicts": []`
        streamed = io.StringIO()
        write_json(report, streamed)
        assert (
            streamed.getvalue() == json.dumps(report.as_dict(), ensure_ascii=False, indent=2) + "\n"
        )
    assert list(tmp_path.glob("govconnect-crosscheck-*")) == []  # closed: the log is gone
