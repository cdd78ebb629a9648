"""What a cross-check found: the sources, the counts, and the conflicts, kept on disk.

A report with a million conflicts must not hold a million objects (about 1 KB each): the engine
writes each conflict into a small SQLite file of its own (:class:`ConflictLog`) as it finds it,
and the report streams them back — into the ``--json`` document (:func:`write_json`), the text
report and the correction notices — one at a time. The file lives in a temporary folder that the
report removes when closed (``with crosscheck(...) as report``, or :meth:`CrosscheckReport.close`;
failing that, when the report is garbage-collected).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .._connector import Service
from ..catalog.classification import Level
from ..catalog.fields import X_LEVEL, X_PERSONAL
from ..catalog.identity.masks import mask_credit_code, mask_identity

__all__ = [
    "Conflict",
    "ConflictLog",
    "CrosscheckReport",
    "Masker",
    "MaskerFor",
    "Source",
    "extra_of",
    "write_json",
]

Masker = Callable[[Any], Any]
MaskerFor = Callable[[Service, str], Masker]
"""Given a service and a field name, the function that masks that field's values (the CLI passes
the gateway's rules; the default hides the whole value)."""

_KEY_MASKS: dict[str, Callable[[str], str]] = {
    "citizen_id": mask_identity,  # any personal identity number, 18 characters
    "credit_code": mask_credit_code,
}


@dataclass
class Source:
    """One dataset that carries the key: which field is the key, which elements it holds."""

    name: str
    service: Service
    key_field: str
    elements: dict[str, str]
    authoritative: list[str]
    records: int = 0
    invalid: int = 0
    keys_compared: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "resource": self.service.code,
            "key_field": self.key_field,
            "elements": dict(self.elements),
            "authoritative": list(self.authoritative),
            "records": self.records,
            "invalid": self.invalid,
            "keys_compared": self.keys_compared,
        }


@dataclass
class Conflict:
    """One key whose element differs between sources, with each source's value as written."""

    key: str
    element: str
    values: dict[str, Any]
    authoritative: str | None
    norms: dict[str, str] = field(default_factory=dict, repr=False)
    """Each source's normalised value: which pairs of sources disagree."""


class ConflictLog:
    """Conflicts appended to a SQLite file and read back in order, as often as asked: iterating
    holds one conflict at a time. ``len()`` and :attr:`by_element` are counted on the way in."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE conflict (seq INTEGER PRIMARY KEY, doc TEXT NOT NULL)")
        self._count = 0
        self.by_element: Counter[str] = Counter()

    def extend(self, conflicts: Iterable[Conflict]) -> None:
        rows = []
        for c in conflicts:
            rows.append((json.dumps([c.key, c.element, c.values, c.authoritative, c.norms]),))
            self.by_element[c.element] += 1
        self._db.executemany("INSERT INTO conflict (doc) VALUES (?)", rows)
        self._db.commit()
        self._count += len(rows)

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Conflict]:
        cursor = self._db.execute("SELECT doc FROM conflict ORDER BY seq")
        try:
            while rows := cursor.fetchmany(500):
                for (doc,) in rows:
                    yield Conflict(*json.loads(doc))
        finally:
            cursor.close()

    def close(self) -> None:
        self._db.close()


def _discard(log: ConflictLog | None, folder: str | None) -> None:
    if log is not None:
        log.close()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class CrosscheckReport:
    """What a cross-check found. Values are kept as the sources wrote them; :meth:`as_dict`
    masks them unless told to reveal. ``conflicts`` is a list, or the engine's
    :class:`ConflictLog` (iterate it; it is read from disk each time)."""

    key: str
    sources: dict[str, Source]
    conflicts: list[Conflict] | ConflictLog
    duplicates: dict[str, int]
    conflicts_by_pair: dict[str, int] = field(default_factory=dict)
    folder: str | None = field(default=None, repr=False)
    """The temporary folder of the conflict log, removed by :meth:`close`."""

    def __post_init__(self) -> None:
        log = self.conflicts if isinstance(self.conflicts, ConflictLog) else None
        self._finalizer = weakref.finalize(self, _discard, log, self.folder)

    def close(self) -> None:
        """Remove the conflict log (the report's conflicts are gone after this)."""
        self._finalizer()

    def __enter__(self) -> CrosscheckReport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def conflicts_total(self) -> int:
        return len(self.conflicts)

    @property
    def conflicts_by_element(self) -> dict[str, int]:
        if isinstance(self.conflicts, ConflictLog):
            return dict(sorted(self.conflicts.by_element.items()))
        return dict(sorted(Counter(c.element for c in self.conflicts).items()))

    def head(self) -> dict[str, Any]:
        """The ``--json`` document without its ``conflicts`` (which :func:`write_json` streams)."""
        return {
            "key": self.key,
            "sources": {name: s.as_dict() for name, s in self.sources.items()},
            "conflicts_total": self.conflicts_total,
            "conflicts_by_element": self.conflicts_by_element,
            "conflicts_by_pair": dict(self.conflicts_by_pair),
            "duplicates": dict(self.duplicates),
        }

    def shown(
        self, *, reveal: bool = False, masker_for: MaskerFor | None = None
    ) -> Iterator[dict[str, Any]]:
        """Each conflict as the report shows it: masked unless ``reveal``."""
        for c in self.conflicts:
            yield self._conflict(c, reveal, masker_for)

    def as_dict(
        self, *, reveal: bool = False, masker_for: MaskerFor | None = None
    ) -> dict[str, Any]:
        """The report as the ``--json`` document, all in memory (:func:`write_json` streams it).
        Keys and personal (or sensitive and above) values are masked unless ``reveal``: a report
        is mailed around, the data is not."""
        conflicts = list(self.shown(reveal=reveal, masker_for=masker_for))
        return {**self.head(), "conflicts": conflicts}

    def _conflict(self, c: Conflict, reveal: bool, masker_for: MaskerFor | None) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in c.values.items():
            source = self.sources[name]
            shown = (
                value if reveal else _masked(source, source.elements[c.element], value, masker_for)
            )
            values[name] = shown if shown is None or isinstance(shown, int | float) else str(shown)
        return {
            "key": c.key if reveal else _KEY_MASKS[self.key](c.key),
            "element": c.element,
            "values": values,
            "authoritative": c.authoritative,
        }


def write_json(
    report: CrosscheckReport,
    out: IO[str],
    *,
    reveal: bool = False,
    masker_for: MaskerFor | None = None,
    extra: dict[str, Any] | None = None,
    scrub: Callable[[str], str] = str,
) -> None:
    """Write the ``--json`` document to ``out`` one conflict at a time: the same text as
    ``json.dumps(document, ensure_ascii=False, indent=2)`` plus a newline, where ``document``
    is :meth:`CrosscheckReport.as_dict` with ``extra`` members before ``conflicts``. ``scrub``
    is applied to each piece written (the CLI masks secrets with it)."""
    head = {**report.head(), **(extra or {})}
    text = json.dumps(head, ensure_ascii=False, indent=2)
    out.write(scrub(text[:-2] + ',\n  "conflicts": ['))
    first = True
    for shown in report.shown(reveal=reveal, masker_for=masker_for):
        piece = json.dumps(shown, ensure_ascii=False, indent=2).replace("\n", "\n    ")
        out.write(scrub(("\n    " if first else ",\n    ") + piece))
        first = False
    out.write("]\n}\n" if first else "\n  ]\n}\n")


def _masked(source: Source, name: str, value: Any, masker_for: MaskerFor | None) -> Any:
    extra = extra_of(source.service, name)
    level = Level(str(extra.get(X_LEVEL, Level.CORE.value)))
    if value is None or not (extra.get(X_PERSONAL) or level >= Level.SENSITIVE):
        return value
    if masker_for is None:
        return "****"
    return masker_for(source.service, name)(value)


def extra_of(service: Service, name: str) -> dict[str, Any]:
    """The catalog extras (level, personal, element, code table) of a field of ``service``."""
    info = service.record_model.model_fields[name]
    return info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
