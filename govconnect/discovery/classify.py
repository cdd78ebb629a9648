"""From reflected facts and detector findings to suggestions, each with its reason.

This is where the rules that are *policy* rather than pattern matching live, so they can be read
in one place:

- a column comment beats the dictionary as a title; the dictionary beats nothing;
- personal information (by name or by values) is never suggested below ``sensitive``; everything
  else starts at ``internal`` — making data ``public`` is a person's decision;
- a shape-only finding (names, addresses) yields to a dictionary term that says the column is known
  business data (a company's registered address is not personal information);
- the candidate key is the declared primary key, else a declared unique constraint, else the column
  that is non-null and unique in the whole sample (identity columns first);
- the candidate replication key is an "updated" timestamp (indexed first), else another indexed
  timestamp, else an integer primary key (it only grows).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..catalog.classification import Level
from ..catalog.codetables import CodeTable
from ..catalog.fields import DataType
from ..catalog.model import KEY_ELEMENTS
from .detectors import ColumnEvidence, Detector, Finding
from .dictionary import Dictionary, Term
from .model import ColumnReport, TableReport

__all__ = [
    "MAX_VALUE_CHARS",
    "Toolkit",
    "candidate_key",
    "normalise_values",
    "replication_key",
    "suggest",
]

MAX_VALUE_CHARS = 256
"""Detectors see at most this many characters of a value (memo columns can be megabytes)."""

_IDENTITY_TYPES = {"citizen_id": "CitizenId", "credit_code": "CreditCode"}
_KEYISH_SUFFIXES = ("id", "bh", "hm", "dm", "no", "code")
_KEY_TYPES = (DataType.CHAR, DataType.INTEGER)
"""Sample-unique amounts, dates and memos are coincidence, not keys."""


def normalise_values(raw: Iterable[Any]) -> tuple[list[str], int]:
    """``(non-blank values as NFKC-normalised stripped strings, count of nulls and blanks)``.

    Runs once per sampled value (9 million for 300 tables of 30 columns), hence the plain loop:
    ASCII text, the common case, skips normalisation.
    """
    values: list[str] = []
    append = values.append
    blanks = 0
    for value in raw:
        if value is None:
            blanks += 1
            continue
        if type(value) is str:
            text = value[:MAX_VALUE_CHARS]
            text = (text if text.isascii() else unicodedata.normalize("NFKC", text)).strip()
        elif isinstance(value, bytes | bytearray | memoryview):
            continue
        else:
            text = str(value)[:MAX_VALUE_CHARS]
        if text:
            append(text)
        else:
            blanks += 1
    return values, blanks


def _run(detectors: Sequence[Detector], evidence: ColumnEvidence) -> list[Finding]:
    findings: list[Finding] = []
    for detector in detectors:
        try:
            findings.extend(detector.detect(evidence))
        except (
            Exception
        ) as exc:  # a plugin's bug must not stop discovery; its message may hold values
            findings.append(
                Finding(
                    "note", "error", f"detector {detector.name!r} failed ({type(exc).__name__})."
                )
            )
    return findings


def _title(column: ColumnReport, comment: str | None, term: Term | None, key: str | None) -> None:
    if comment and comment.strip():
        column.title, column.title_source = comment.strip(), "comment"
        column.reasons.append("title from the column comment.")
    elif term is not None:
        column.title, column.title_source = term.title, "dictionary"
        entry = f"entry {key!r}" if key else "(the name is a dictionary title)"
        column.reasons.append(f"title from the abbreviation dictionary {entry}.")
    else:
        column.reasons.append("no comment and no dictionary entry: the title is a person's call.")


def _term(dictionary: Dictionary, name: str, comment: str | None) -> tuple[Term | None, str | None]:
    found = dictionary.find(name)
    if found is not None:
        return found[1], found[0]
    return dictionary.by_title(comment) or dictionary.by_title(name), None


@dataclass(frozen=True)
class Toolkit:
    """What plugins contribute to discovery: the dictionary, the detectors, the code tables."""

    dictionary: Dictionary
    detectors: Sequence[Detector]
    code_tables: Mapping[str, CodeTable] = field(default_factory=dict)


def suggest(
    table: str,
    column: ColumnReport,
    comment: str | None,
    raw_values: Sequence[Any] | None,
    toolkit: Toolkit,
) -> ColumnReport:
    """Fill in the suggestions for one column whose declared facts (name, SQL type, nullable,
    length, data type) are set; ``raw_values`` is ``None`` when the column was not read."""
    term, key = _term(toolkit.dictionary, column.name, comment)
    _title(column, comment, term, key)
    column.kind = term.kind if term else None
    column.dictionary_title = term.title if term else None
    column.reasons.append(
        f"data type {column.data_type.value} ({column.data_type.label}) from {column.sql_type}."
    )
    findings: list[Finding] = []
    if raw_values is None:
        column.sampled = False
        column.reasons.append("binary column: values were not read.")
    else:
        values, blanks = normalise_values(raw_values)
        if not values and raw_values:
            column.reasons.append(f"no non-blank values among {len(raw_values)} sampled rows.")
        evidence = ColumnEvidence(
            table, column.name, column.data_type, term, values, blanks, toolkit.code_tables
        )
        findings = _run(toolkit.detectors, evidence)
    _apply(column, findings, term)
    _element(column, term)
    return column


_NOT_ELEMENTS = frozenset({"updated", "created"})
"""Dictionary kinds that are bookkeeping, not a fact about the person or company: every system's
update time differs, so comparing them across sources would report nothing but noise."""


def _element(column: ColumnReport, term: Term | None) -> None:
    """Suggest the data element: the key element for a detected citizen ID or credit code (so
    the cross-check joins by it), else the dictionary's title for a term that means something
    (姓名, 出生日期, 住址 …). Plain business terms (状态, 备注, 金额: ``kind`` None) get none,
    since one department's status is not another's."""
    if column.identity in KEY_ELEMENTS:
        column.element, source = KEY_ELEMENTS[column.identity], "the detected identity"
    elif term is not None and term.kind is not None and term.kind not in _NOT_ELEMENTS:
        column.element, source = term.title, "the abbreviation dictionary"
    else:
        return
    column.reasons.append(f"data element {column.element} (数据元) from {source}.")


def _apply(column: ColumnReport, findings: list[Finding], term: Term | None) -> None:
    personal_reasons: list[str] = []
    for f in findings:
        if f.aspect == "identity" and column.identity is None:
            column.identity, column.kind = f.value, f.value
            column.python_type = _IDENTITY_TYPES.get(f.value, column.python_type)
            column.reasons.append(f.reason)
            if f.value == "citizen_id":
                personal_reasons.append("citizen ID numbers identify a person.")
        elif f.aspect == "code_table" and column.code_table is None:
            column.code_table = f.value
            column.reasons.append(f.reason)
        elif f.aspect == "temporal" and column.data_type in (DataType.CHAR, DataType.MEMO):
            column.data_type = DataType.DATE if f.value == "date" else DataType.DATETIME
            column.python_type = f.value
            column.reasons.append(f.reason[:-1] + f", so the type is {column.data_type.value}.")
        elif f.aspect == "personal":
            if not f.strong and term is not None and not term.personal:
                column.reasons.append(
                    f"{f.reason[:-1]}, but the dictionary says {term.title!r} (not personal)."
                )
                continue
            column.kind = column.kind or f.value
            personal_reasons.append(f.reason)
        elif f.aspect == "note":
            column.reasons.append(f.reason)
    if term is not None and term.personal:
        personal_reasons.insert(0, f"the name means {term.title} ({term.kind}).")
    if personal_reasons:
        column.personal = True
        column.level = Level.SENSITIVE
        column.reasons.append("personal information: " + " ".join(personal_reasons))
        column.reasons.append("personal information is suggested at sensitive, never lower.")
    else:
        column.reasons.append("no personal information found: internal until a person decides.")


def candidate_key(
    table: TableReport,
    primary_key: Sequence[str],
    unique: Sequence[Sequence[str]],
    sample: Mapping[str, Sequence[Any]],
    rows: int,
) -> None:
    """Set ``table.key`` with its reason (declared PK, unique constraint, or unique in sample)."""
    nullable = {c.name: c.nullable for c in table.columns}
    if primary_key:
        table.key = list(primary_key)
        table.reasons.append("key: the declared primary key.")
        return
    for cols in unique:
        if cols and not any(nullable.get(c, True) for c in cols):
            table.key = list(cols)
            table.reasons.append("key: a declared unique constraint over non-null columns.")
            return
    if rows < 2:
        table.reasons.append(
            "key: no declared primary key and too few rows to suggest one; a person must choose."
        )
        return

    def rank(col: ColumnReport) -> tuple[int, int]:
        keyish = col.name.lower().endswith(_KEYISH_SUFFIXES)
        identity = col.identity or col.kind in _IDENTITY_TYPES
        return (0 if identity else 1 if keyish else 2, table.columns.index(col))

    for col in sorted(table.columns, key=rank):
        values = sample.get(col.name)
        if not values or not col.sampled or col.data_type not in _KEY_TYPES:
            continue
        if col.personal and col.kind not in _IDENTITY_TYPES:  # a name or an address is no key
            continue
        normalised, blanks = normalise_values(values)
        if blanks == 0 and len(set(normalised)) == len(values):
            table.key = [col.name]
            table.reasons.append(
                f"key: no declared primary key; {col.name} is non-null and unique "
                f"in all {rows} sampled rows."
            )
            return
    table.reasons.append(
        "key: no declared primary key and no column unique in the sample; a person must choose."
    )


def replication_key(table: TableReport, indexed: set[str], primary_key: Sequence[str]) -> None:
    """Set ``table.replication_key``: an updated-at column, an indexed timestamp, or a growing PK."""
    temporal = [c for c in table.columns if c.data_type in (DataType.DATETIME, DataType.DATE)]
    choices = (
        (
            [c for c in temporal if c.kind == "updated" and c.name in indexed],
            "an indexed update time",
        ),
        ([c for c in temporal if c.kind == "updated"], "an update time (not indexed)"),
        (
            [c for c in temporal if c.name in indexed and c.data_type is DataType.DATETIME],
            "an indexed timestamp",
        ),
    )
    for found, what in choices:
        if found:
            table.replication_key = found[0].name
            table.reasons.append(f"replication key: {found[0].name} is {what}.")
            return
    if len(primary_key) == 1:
        pk = next((c for c in table.columns if c.name == primary_key[0]), None)
        if pk is not None and pk.data_type is DataType.INTEGER:
            table.replication_key = pk.name
            table.reasons.append(
                f"replication key: {pk.name} is an integer primary key; it only grows, so it "
                "finds new rows but not updated ones."
            )
            return
    table.reasons.append("replication key: no update time or growing column found.")
