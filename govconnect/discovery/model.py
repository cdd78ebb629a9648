"""The discovery report: plain data that both people (the CLI's tables) and generators read.

The JSON shape is a contract (issue 12): ``{"url", "tables": [{"name", "rows_estimate", "key",
"replication_key", "columns": [{"name", "sql_type", "nullable", "length", "title",
"title_source", "data_type", "python_type", "identity", "code_table", "personal", "level",
"reasons"}]}]}``. Extra keys (``schema``, ``sampled``, ``reasons`` per table, ``error``) may be
added; the contract keys never change meaning. Nothing in a report is a sampled value: reasons
carry counts, so a report can be mailed, committed or attached to a ticket.

A code generator (``govconnect new connector --from-db``) consumes :class:`DiscoveryReport`
directly: ``python_type`` names the annotation to write (``CitizenId``, ``date``, ``Decimal``…),
``level`` is a :class:`~govconnect.catalog.classification.Level`, ``data_type`` a
:class:`~govconnect.catalog.fields.DataType`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Protocol, TypeVar

from ..catalog.classification import Level
from ..catalog.fields import DataType

__all__ = ["COLUMN_KEYS", "TABLE_KEYS", "ColumnReport", "DiscoveryReport", "TableReport"]

TitleSource = Literal["comment", "dictionary", "none"]


class _Named(Protocol):
    name: str


N = TypeVar("N", bound=_Named)


def _named(items: list[N], name: str) -> N:
    for item in items:
        if item.name == name:
            return item
    raise KeyError(name)


COLUMN_KEYS = (
    "name",
    "sql_type",
    "nullable",
    "length",
    "title",
    "title_source",
    "data_type",
    "python_type",
    "identity",
    "code_table",
    "personal",
    "level",
    "reasons",
)
TABLE_KEYS = ("name", "rows_estimate", "key", "replication_key", "columns")


@dataclass
class ColumnReport:
    """One column and what discovery suggests for it (every suggestion has a reason)."""

    name: str
    sql_type: str
    nullable: bool
    length: int | None
    title: str | None = None
    title_source: TitleSource = "none"
    data_type: DataType = DataType.CHAR
    python_type: str = "str"
    identity: str | None = None
    code_table: str | None = None
    personal: bool = False
    level: Level = Level.INTERNAL
    reasons: list[str] = field(default_factory=list)
    kind: str | None = None
    """What the column holds (``phone``, ``updated``…) when known; extra, not in the contract."""
    sampled: bool = True
    """False for columns whose values were not read (binary columns)."""
    dictionary_title: str | None = None
    """The dictionary's title for the name even when the comment gave the title (extra)."""
    element: str | None = None
    """The data element (数据元) the column carries, for ``field(element=...)`` and the
    cross-check: suggested from the dictionary (extra)."""

    def as_dict(self) -> dict[str, Any]:
        """The contract keys first (field order), enums as their plain values."""
        data = asdict(self)
        data.update(data_type=self.data_type.value, level=self.level.value)
        return data


@dataclass
class TableReport:
    """One table: size estimate, candidate keys, columns — or the error that stopped it."""

    name: str
    schema: str | None = None
    rows_estimate: int | None = None
    sampled_rows: int = 0
    key: list[str] | None = None
    replication_key: str | None = None
    columns: list[ColumnReport] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    error: str | None = None

    def column(self, name: str) -> ColumnReport:
        return _named(self.columns, name)

    def as_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(
            key=list(self.key) if self.key is not None else None,
            columns=[c.as_dict() for c in self.columns],
            reasons=list(self.reasons),
        )
        return data


@dataclass
class DiscoveryReport:
    """Every table discovered in one database; ``url`` never carries the password."""

    url: str
    tables: list[TableReport] = field(default_factory=list)
    sample_size: int = 1000

    @property
    def failed(self) -> list[TableReport]:
        return [t for t in self.tables if t.error is not None]

    def table(self, name: str) -> TableReport:
        return _named(self.tables, name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "sample_size": self.sample_size,
            "tables": [t.as_dict() for t in self.tables],
        }
