"""Catalog exports: JSON round trip, OpenAPI 3.1, CSV for clerks, DCAT for open-data portals."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openapi_spec_validator import validate

from govconnect import (
    Catalog,
    export_catalog,
    load_registry,
    to_csv,
    to_dcat,
    to_json,
    to_openapi,
)
from govconnect._export import CSV_COLUMNS
from tests import sample_connector


@pytest.fixture
def registry():
    return load_registry(plugins=[sample_connector], entry_points=False, config={})


def test_json_round_trips_into_the_model(registry) -> None:
    catalog = registry.catalog()
    text = to_json(catalog)
    data = json.loads(text)
    assert list(data) == ["schema_version", "resources"]
    assert Catalog.from_document(data) == catalog
    assert to_json(Catalog.from_document(data)) == text  # stable, byte for byte
    assert data["resources"][0]["category"]["class_name"] == "基础信息资源"


def test_openapi_is_valid_openapi_3_1(registry) -> None:
    spec = to_openapi(registry.services())
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert list(spec["paths"]) == ["/services/DEPT01/SYS01/person/v1"]  # query services only
    op = spec["paths"]["/services/DEPT01/SYS01/person/v1"]["get"]
    assert op["x-resource-code"] == "111112001/0101"
    assert op["x-sharing-type"] == "conditional"
    assert [p["name"] for p in op["parameters"]] == ["citizen_id"]
    assert op["parameters"][0]["required"] is True
    person = spec["components"]["schemas"]["Person"]["properties"]
    assert person["citizen_id"]["x-classification"] == "sensitive"
    assert person["citizen_id"]["x-personal-information"] is True
    assert person["born"]["x-classification"] == "important"


def test_csv_has_one_row_per_information_item(registry) -> None:
    rows = list(csv.reader(io.StringIO(to_csv(registry.catalog()))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) - 1 == sum(len(r.items) for r in registry.catalog().resources)
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["资源代码"] == "111112001/0101"
    assert first["共享类型"] == "有条件共享"
    assert first["字段名"] == "citizen_id"
    assert first["数据类型"] == "C"
    assert first["数据长度"] == "18"
    assert first["分级"] == "敏感"
    assert first["个人信息"] == "是"


def test_dcat_lists_only_the_public_part(registry) -> None:
    doc = to_dcat(registry.catalog())
    assert doc["@type"] == "dcat:Catalog"
    (dataset,) = doc["dcat:dataset"]
    assert dataset["dct:identifier"] == "111112001/0102"
    assert dataset["dct:accrualPeriodicity"]["@id"].endswith("/daily")
    assert dataset["dct:accessRights"]["@id"].endswith("/PUBLIC")
    assert dataset["dct:publisher"]["foaf:name"] == "测试局"


def test_unknown_format_is_refused(registry) -> None:
    with pytest.raises(ValueError, match="unknown export format 'xls'"):
        export_catalog("xls", registry.catalog(), registry.services())
