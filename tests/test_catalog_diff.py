"""Catalog diff: what a republished catalog changes, sharing-type changes called out."""

from __future__ import annotations

from govconnect import Catalog, InformationItem, Level, SharingType, UpdateCycle, diff_catalogs
from tests.sample_connector import Registry


def catalog() -> Catalog:
    return Catalog(resources=[s.resource for s in Registry.services().values()])


def test_identical_catalogs_have_an_empty_diff() -> None:
    diff = diff_catalogs(catalog(), catalog())
    assert diff.empty
    assert diff.as_dict()["changed"] == []


def test_added_and_removed_resources() -> None:
    old, new = catalog(), catalog()
    new.resources = [r for r in new.resources if r.code != "111112001/0102"]
    diff = diff_catalogs(old, new)
    assert diff.removed == ["111112001/0102"] and diff.added == []
    back = diff_catalogs(new, old)
    assert back.added == ["111112001/0102"] and back.removed == []


def replace(catalog: Catalog, code: str, **update: object) -> None:
    catalog.resources = [
        r.model_copy(update=update) if r.code == code else r for r in catalog.resources
    ]


def test_metadata_changes_and_sharing_type_called_out() -> None:
    old, new = catalog(), catalog()
    sharing = new.get("111112001/0101").sharing.model_copy(
        update={"type": SharingType.UNCONDITIONAL, "conditions": None}
    )
    replace(new, "111112001/0101", sharing=sharing, update_cycle=UpdateCycle.DAILY)
    diff = diff_catalogs(old, new)
    (change,) = diff.changed
    assert change.fields["sharing.type"] == ("conditional", "unconditional")
    assert change.fields["update_cycle"] == ("real_time", "daily")
    assert diff.sharing_changes == [("111112001/0101", "conditional", "unconditional")]
    assert diff.as_dict()["sharing_changes"][0]["new"] == "unconditional"


def test_item_changes() -> None:
    old, new = catalog(), catalog()
    items = [
        i.model_copy(update={"level": Level.CORE}) if i.name == "born" else i
        for i in new.get("111112001/0101").items
        if i.name != "district"
    ] + [
        InformationItem(name="phone", title="电话", data_type="C", level="sensitive", personal=True)
    ]
    replace(new, "111112001/0101", items=items)
    (change,) = diff_catalogs(old, new).changed
    assert change.items_added == ["phone"]
    assert change.items_removed == ["district"]
    assert [(c.name, c.changes) for c in change.items_changed] == [
        ("born", {"level": ("important", "core")})
    ]
    assert change.sharing_change is None
