"""Reading the drop folder: streaming, incremental, incomplete and broken files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from govconnect import CitizenId, ConfigurationError, Connector, InvalidInputError

from govconnect_civil_affairs import CivilAffairsConnector
from govconnect_civil_affairs.sample import (
    SAMPLE_CITIZEN_ID,
    sample_cases,
    write_drop_file,
    write_sample_drop,
)


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    write_sample_drop(tmp_path, count=120, per_file=50)
    return tmp_path


@pytest.fixture
def connector(drop: Path) -> Iterator[Connector]:
    with CivilAffairsConnector({"drop_dir": str(drop)}) as conn:
        yield conn


def test_sample_files_are_gb18030_fixed_width(drop: Path) -> None:
    files = sorted(drop.glob("MZJZ_*.DAT"))
    assert len(files) == 3
    first = next(sample_cases(1))
    raw = files[0].read_bytes()
    assert first["XM"].encode("gb18030") in raw
    assert {len(line) for line in raw.split(b"\r\n") if line} == {158}


def test_sample_ids_are_valid_and_unique() -> None:
    ids = [CitizenId.parse(c["SFZH"]) for c in sample_cases(500)]
    assert len(set(ids)) == 500


def test_dataset_reads_every_case_in_order(connector: Connector) -> None:
    cases = list(connector.run("cases"))
    assert len(cases) == 120
    assert [c.updated_at for c in cases] == sorted(c.updated_at for c in cases)
    assert cases[0].category in {"最低生活保障", "特困人员供养", "临时救助", "医疗救助"}


def test_dataset_since_returns_only_later_cases(connector: Connector) -> None:
    cases = list(connector.run("cases"))
    later = list(connector.run("cases", {"since": cases[99].updated_at}))
    assert [c.case_no for c in later] == [c.case_no for c in cases[100:]]


def test_amounts_are_yuan(connector: Connector) -> None:
    [case] = connector.run("assistance", {"citizen_id": SAMPLE_CITIZEN_ID})
    assert case.monthly_amount == int(next(sample_cases(1))["JZJE"]) / 100


def test_file_without_trailer_is_skipped_until_complete(drop: Path, connector: Connector) -> None:
    extra = list(sample_cases(130))[120:]
    write_drop_file(drop / "MZJZ_20260106_001.DAT", extra, trailer=False)
    assert len(list(connector.run("cases"))) == 120
    write_drop_file(drop / "MZJZ_20260106_001.DAT", extra)
    assert len(list(connector.run("cases"))) == 130


def test_count_mismatch_is_reported(drop: Path, connector: Connector) -> None:
    path = drop / "MZJZ_20260105_003.DAT"
    lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join(lines[1:]))
    with pytest.raises(InvalidInputError) as info:
        list(connector.run("cases"))
    assert info.value.problems[0].rule == "drop_file.count"


def test_lookup_by_citizen_id(connector: Connector) -> None:
    assert [
        c.citizen_id for c in connector.run("assistance", {"citizen_id": SAMPLE_CITIZEN_ID})
    ] == [SAMPLE_CITIZEN_ID]
    assert list(connector.run("assistance", {"citizen_id": "11010519491231002X"})) == []


def test_missing_drop_folder_is_a_configuration_error(tmp_path: Path) -> None:
    with (
        CivilAffairsConnector({"drop_dir": str(tmp_path / "absent")}) as conn,
        pytest.raises(ConfigurationError, match="does not exist"),
    ):
        list(conn.run("cases"))


def test_dataset_streams_without_reading_everything(drop: Path, connector: Connector) -> None:
    stream = connector.run("cases", {"since": datetime(2000, 1, 1)})
    first = next(stream)
    assert first.case_no.startswith("MZ")
