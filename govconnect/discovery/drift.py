"""Schema drift: what changed in the legacy system since its catalog was compiled (动态更新).

The catalog describes records (English field names, typed, classified); the legacy database has
tables (pinyin columns, SQL types). To compare them, each catalog resource is matched to the
discovered table whose columns cover most of its information items, an item matching a column by
name, else by title (the column's comment or dictionary title, equal or one containing the other,
so 户籍状态 matches ``zt`` 状态). A resource whose items mostly match no table (an aggregate, a
service that is not one table) is not compared and is listed as unmatched.

The result is a :class:`~govconnect.catalog.diff.CatalogDiff` — the same shape ``govconnect catalog
diff`` prints — of the catalog against itself with each matched resource's items rewritten from the
table: columns added (no item), items removed (no column), items retyped (catalog data type code)
or lengthened (the column now holds longer values than the item declares; a shorter column still
fits the catalog and is not drift). Titles, levels and personal flags are people's
decisions, so they are carried over unchanged and never reported as drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..catalog.classification import Level
from ..catalog.diff import CatalogDiff, diff_catalogs
from ..catalog.fields import InformationItem
from ..catalog.model import Catalog, Resource
from .model import ColumnReport, DiscoveryReport, TableReport

__all__ = ["MATCH_SHARE", "Drift", "drift"]

MATCH_SHARE = 0.7
"""A resource is compared with a table when at least this share of its items match columns."""


@dataclass
class Drift:
    """The catalog diff plus which table each resource was compared with."""

    diff: CatalogDiff
    tables: dict[str, str] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.diff.empty

    def as_dict(self) -> dict[str, Any]:
        return {**self.diff.as_dict(), "tables": dict(self.tables), "unmatched": self.unmatched}


def _titles(column: ColumnReport) -> list[str]:
    return [t for t in (column.title, column.dictionary_title) if t]


def _match_items(resource: Resource, table: TableReport) -> dict[str, ColumnReport]:
    """item name → column, greedily: same name, then same title, then one title containing the other."""
    free = {c.name: c for c in table.columns}
    matched: dict[str, ColumnReport] = {}

    def take(item: InformationItem, column: ColumnReport) -> None:
        matched[item.name] = column
        free.pop(column.name, None)

    for item in resource.items:
        column = next((c for c in free.values() if c.name.lower() == item.name.lower()), None)
        if column is not None:
            take(item, column)
    for item in resource.items:
        if item.name not in matched:
            column = next((c for c in free.values() if item.title in _titles(c)), None)
            if column is not None:
                take(item, column)
    for item in resource.items:
        if item.name in matched or len(item.title) < 2:
            continue
        found = [
            c
            for c in free.values()
            if any(len(t) >= 2 and (t in item.title or item.title in t) for t in _titles(c))
        ]
        if len(found) == 1:
            take(item, found[0])
    return matched


def _rewritten(
    resource: Resource, table: TableReport, matched: dict[str, ColumnReport]
) -> Resource:
    by_column = {c.name: name for name, c in matched.items()}
    old = {i.name: i for i in resource.items}
    items: list[InformationItem] = []
    for column in table.columns:
        name = by_column.get(column.name)
        if name is None:
            items.append(
                InformationItem(
                    name=column.name,
                    title=column.title or column.name,
                    data_type=column.data_type,
                    length=column.length,
                    level=Level(column.level),
                    personal=column.personal,
                    required=not column.nullable,
                )
            )
            continue
        item = old[name]
        length = item.length
        if item.length is not None and column.length is not None and column.length > item.length:
            length = column.length  # longer than declared: values may no longer fit
        items.append(item.model_copy(update={"data_type": column.data_type, "length": length}))
    return resource.model_copy(update={"items": items})


def drift(report: DiscoveryReport, catalog: Catalog) -> Drift:
    """Compare ``catalog`` with what ``report`` found; resources matched to tables by their items."""
    tables = [t for t in report.tables if t.error is None]
    result = Drift(CatalogDiff())
    rewritten: list[Resource] = []
    compared: list[Resource] = []
    for resource in catalog.resources:
        best: tuple[float, TableReport, dict[str, ColumnReport]] | None = None
        for table in tables:
            matched = _match_items(resource, table)
            share = len(matched) / max(1, len(resource.items))
            if share >= MATCH_SHARE and (best is None or share > best[0]):
                best = (share, table, matched)
        if best is None:
            result.unmatched.append(resource.code)
            continue
        _, table, matched = best
        result.tables[resource.code] = table.name
        compared.append(resource)
        rewritten.append(_rewritten(resource, table, matched))
    result.diff = diff_catalogs(Catalog(resources=compared), Catalog(resources=rewritten))
    return result
