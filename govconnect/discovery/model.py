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

from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog.classification import Level
from ..catalog.fields import DataType

__all__ = ["COLUMN_KEYS", "TABLE_KEYS", "ColumnReport", "DiscoveryReport", "TableReport"]

TitleSource = Literal["comment", "dictionary", "none"]

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sql_type": self.sql_type,
            "nullable": self.nullable,
            "length": self.length,
            "title": self.title,
            "title_source": self.title_source,
            "data_type": self.data_type.value,
            "python_type": self.python_type,
            "identity": self.identity,
            "code_table": self.code_table,
            "personal": self.personal,
            "level": self.level.value,
            "reasons": list(self.reasons),
            "kind": self.kind,
            "sampled": self.sampled,
            "dictionary_title": self.dictionary_title,
        }


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
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "schema": self.schema,
            "rows_estimate": self.rows_estimate,
            "sampled_rows": self.sampled_rows,
            "key": self.key,
            "replication_key": self.replication_key,
            "columns": [c.as_dict() for c in self.columns],
            "reasons": list(self.reasons),
            "error": self.error,
        }


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
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "sample_size": self.sample_size,
            "tables": [t.as_dict() for t in self.tables],
        }
