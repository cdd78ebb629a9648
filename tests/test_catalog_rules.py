"""Catalog rules from the 2017 national guideline: each rule has a failing case, and every problem
of a catalog is reported at once."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from govconnect import Catalog, CatalogValidationError, parse_resource_code
from tests.sample_connector import Registry


@pytest.fixture
def document() -> dict[str, Any]:
    resources = sorted((s.resource for s in Registry.services().values()), key=lambda r: r.code)
    catalog = Catalog(resources=resources)
    return catalog.model_dump(mode="json")


def rules_of(doc: dict[str, Any]) -> set[tuple[str, str]]:
    with pytest.raises(CatalogValidationError) as info:
        Catalog.from_document(doc)
    return {(p.field, p.rule) for p in info.value.problems}


def test_valid_document_parses(document: dict[str, Any]) -> None:
    catalog = Catalog.from_document(document)
    assert [r.code for r in catalog.resources] == ["111112001/0101", "111112001/0102"]
    assert catalog.problems() == []


def test_resource_code_is_parsed_into_its_classification() -> None:
    category = parse_resource_code("111112001/2001")
    assert category is not None
    assert (category.class_code, category.item, category.catalog, category.detail) == (
        "1",
        "11",
        "112",
        "001",
    )
    assert category.class_name == "基础信息资源"
    assert parse_resource_code("311200/7").class_name == "部门信息资源"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "code", ["111112001", "411112001/1", "11111/1", "111112001/", "111112001/A1", " 111112001/1"]
)
def test_malformed_resource_codes(document: dict[str, Any], code: str) -> None:
    document["resources"][0]["code"] = code
    document["resources"][1]["related"] = []
    assert (f"resources[{code}].code", "resource_code.format") in rules_of(document)


def test_resource_codes_are_unique(document: dict[str, Any]) -> None:
    document["resources"][1]["code"] = document["resources"][0]["code"]
    document["resources"][1]["related"] = []
    assert ("resources[111112001/0101].code", "resource_code.unique") in rules_of(document)


def test_conditional_sharing_needs_conditions(document: dict[str, Any]) -> None:
    document["resources"][0]["sharing"]["conditions"] = "  "
    assert (
        "resources[111112001/0101].sharing.conditions",
        "sharing.conditions_required",
    ) in rules_of(document)


def test_not_shared_needs_a_legal_basis(document: dict[str, Any]) -> None:
    document["resources"][0]["sharing"]["type"] = "not_shared"
    assert (
        "resources[111112001/0101].sharing.legal_basis",
        "sharing.legal_basis_required",
    ) in rules_of(document)
    document["resources"][0]["sharing"]["legal_basis"] = "《中华人民共和国居民身份证法》第六条"
    Catalog.from_document(document)


def test_not_shared_cannot_be_open_to_the_public(document: dict[str, Any]) -> None:
    resource = document["resources"][1]
    resource["sharing"].update(type="not_shared", legal_basis="法律规定")
    assert ("resources[111112001/0102].open.public", "open.not_shared") in rules_of(document)


def test_other_sharing_method_needs_a_note(document: dict[str, Any]) -> None:
    document["resources"][0]["sharing"]["method"] = "other"
    assert (
        "resources[111112001/0101].sharing.method_note",
        "sharing.method_note_required",
    ) in rules_of(document)


@pytest.mark.parametrize("name", ["name", "abstract"])
def test_name_and_abstract_are_required(document: dict[str, Any], name: str) -> None:
    document["resources"][0][name] = ""
    assert (f"resources[111112001/0101].{name}", f"{name}.required") in rules_of(document)


def test_provider_is_required(document: dict[str, Any]) -> None:
    document["resources"][0]["provider"]["code"] = ""
    assert ("resources[111112001/0101].provider", "provider.required") in rules_of(document)


def test_related_resources_must_resolve(document: dict[str, Any]) -> None:
    document["resources"][1]["related"] = ["111112001/9999"]
    assert ("resources[111112001/0102].related", "related.resolve") in rules_of(document)


def test_a_resource_cannot_relate_to_itself(document: dict[str, Any]) -> None:
    document["resources"][1]["related"] = ["111112001/0102"]
    assert ("resources[111112001/0102].related", "related.self") in rules_of(document)


def test_at_least_one_information_item(document: dict[str, Any]) -> None:
    document["resources"][0]["items"] = []
    assert ("resources[111112001/0101].items", "items.required") in rules_of(document)


def test_information_item_names_are_unique(document: dict[str, Any]) -> None:
    items = document["resources"][0]["items"]
    items.append(copy.deepcopy(items[0]))
    assert ("resources[111112001/0101].items.citizen_id", "items.unique") in rules_of(document)


def test_every_item_is_classified_and_typed(document: dict[str, Any]) -> None:
    del document["resources"][0]["items"][0]["level"]
    document["resources"][0]["items"][1]["data_type"] = "Q"
    found = rules_of(document)
    assert ("resources[111112001/0101].items.0.level", "missing") in found
    assert ("resources[111112001/0101].items.1.data_type", "enum") in found


def test_sharing_type_and_update_cycle_are_from_the_guideline(document: dict[str, Any]) -> None:
    document["resources"][0]["sharing"]["type"] = "sometimes"
    document["resources"][0]["update_cycle"] = "hourly"
    found = rules_of(document)
    assert ("resources[111112001/0101].sharing.type", "enum") in found
    assert ("resources[111112001/0101].update_cycle", "enum") in found


def test_all_problems_are_reported_together(document: dict[str, Any]) -> None:
    document["resources"][0]["sharing"]["conditions"] = None
    document["resources"][0]["abstract"] = ""
    document["resources"][1]["related"] = ["111112001/9999"]
    document["resources"][1]["update_cycle"] = "hourly"  # a model error in another resource
    found = rules_of(document)
    assert {rule for _, rule in found} >= {
        "sharing.conditions_required",
        "abstract.required",
        "enum",
    }
    assert len(found) >= 3


def test_document_shape_errors() -> None:
    with pytest.raises(CatalogValidationError, match="resources"):
        Catalog.from_document({"schema_version": 1})
    with pytest.raises(CatalogValidationError, match="JSON object"):
        Catalog.from_document([])  # type: ignore[arg-type]


def test_validate_rules_raises_every_problem_of_a_catalog_built_in_code(
    document: dict[str, Any],
) -> None:
    """A catalog built from models (not parsed) is checked on demand, all problems at once."""
    catalog = Catalog.from_document(document)
    assert catalog.validate_rules() is catalog
    broken = catalog.model_copy(update={"resources": [catalog.resources[0]] * 2})
    with pytest.raises(CatalogValidationError) as info:
        broken.validate_rules()
    assert info.value.problems == broken.problems() != []


def test_drafted_names_are_legal_unreserved_and_unique() -> None:
    """One rule names what every generator drafts (``--from-db``, ``--from-layout``,
    ``--from-wsdl``): a WSDL element ``copy`` must not shadow the pydantic model's method."""
    from govconnect.catalog.names import identifier

    taken: set[str] = set()
    names = [
        identifier(raw, taken, "field")
        for raw in ("GMSFHM", "copy", "class", "2023nd", "姓名", "Sqr-Xm", "gmsfhm")
    ]
    assert names == ["gmsfhm", "copy_", "class_", "c_2023nd", "field", "sqr_xm", "gmsfhm_2"]
