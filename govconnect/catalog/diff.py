"""Diff of two catalog documents: the catalog update mechanism (目录更新).

A department republishes its catalog when systems change; the platform (and the clerk who signs
it off) needs to see what changed: resources added or removed, metadata changed, information items
added, removed or retyped — and, called out on their own, sharing-type changes, since moving a
resource from conditional to unconditional sharing is a decision someone must own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .model import Catalog, Resource

__all__ = ["CatalogDiff", "ItemChange", "ResourceChange", "diff_catalogs"]


@dataclass
class ItemChange:
    name: str
    changes: dict[str, tuple[Any, Any]]


@dataclass
class ResourceChange:
    code: str
    name: str
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    items_added: list[str] = field(default_factory=list)
    items_removed: list[str] = field(default_factory=list)
    items_changed: list[ItemChange] = field(default_factory=list)

    @property
    def sharing_change(self) -> tuple[Any, Any] | None:
        return self.fields.get("sharing.type")

    def __bool__(self) -> bool:
        return bool(self.fields or self.items_added or self.items_removed or self.items_changed)


@dataclass
class CatalogDiff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[ResourceChange] = field(default_factory=list)

    @property
    def sharing_changes(self) -> list[tuple[str, Any, Any]]:
        """``(code, old type, new type)`` for every resource whose sharing type changed."""
        return [
            (c.code, c.sharing_change[0], c.sharing_change[1])
            for c in self.changed
            if c.sharing_change is not None
        ]

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sharing_changes"] = [
            {"code": code, "old": old, "new": new} for code, old, new in self.sharing_changes
        ]
        return data


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: data}


def _resource_change(old: Resource, new: Resource) -> ResourceChange:
    change = ResourceChange(code=new.code, name=new.name)
    before = _flatten(old.model_dump(mode="json", exclude={"items", "category"}))
    after = _flatten(new.model_dump(mode="json", exclude={"items", "category"}))
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) != after.get(key):
            change.fields[key] = (before.get(key), after.get(key))
    old_items = {i.name: i.model_dump(mode="json") for i in old.items}
    new_items = {i.name: i.model_dump(mode="json") for i in new.items}
    change.items_added = [n for n in new_items if n not in old_items]
    change.items_removed = [n for n in old_items if n not in new_items]
    for name in new_items.keys() & old_items.keys():
        a, b = old_items[name], new_items[name]
        diffs = {
            k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)
        }
        if diffs:
            change.items_changed.append(ItemChange(name, diffs))
    change.items_changed.sort(key=lambda c: c.name)
    return change


def diff_catalogs(old: Catalog, new: Catalog) -> CatalogDiff:
    """What changed from ``old`` to ``new``, resource by resource (matched by resource code)."""
    a, b = old.by_code(), new.by_code()
    diff = CatalogDiff(
        added=sorted(b.keys() - a.keys()),
        removed=sorted(a.keys() - b.keys()),
    )
    for code in sorted(a.keys() & b.keys()):
        change = _resource_change(a[code], b[code])
        if change:
            diff.changed.append(change)
    return diff
