"""The cross-check itself: find the sources, spill their values to SQLite, report what differs.

Why SQLite: a department's household register has millions of rows and the cross-check reads
several such datasets at once. Holding them in dictionaries would grow with N; a temporary SQLite
file with a bounded page cache keeps memory flat, and its indexes do the join by key and the
grouping in C. Only the conflicts (few, by design of the data) come back into Python.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .._connector import Connector, Service, connector_faults
from .._exceptions import ConfigurationError
from .._registry import Registry
from .._validation import validate_model
from ..catalog.classification import Level
from ..catalog.fields import X_CODE_TABLE, X_ELEMENT, X_LEVEL, X_PERSONAL, _unwrap
from ..catalog.identity import CitizenId, CreditCode
from ..catalog.identity.masks import mask_credit_code, mask_identity
from ..catalog.model import KEY_ELEMENTS
from .normalise import normalise

__all__ = ["Conflict", "CrosscheckReport", "Masker", "Source", "crosscheck"]

Masker = Callable[[Any], Any]
MaskerFor = Callable[[Service, str], Masker]
"""Given a service and a field name, the function that masks that field's values (the CLI passes
the gateway's rules; the default hides the whole value)."""

_KEY_TYPES: dict[str, type] = {"citizen_id": CitizenId, "credit_code": CreditCode}
_KEY_MASKS: dict[str, Callable[[str], str]] = {
    "citizen_id": mask_identity,  # any personal identity number, 18 characters
    "credit_code": mask_credit_code,
}
_BATCH = 5000
_CACHE_KIB = 16 * 1024


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


@dataclass
class CrosscheckReport:
    """What a cross-check found. Values are kept as the sources wrote them; :meth:`as_dict`
    masks them unless told to reveal."""

    key: str
    sources: dict[str, Source]
    conflicts: list[Conflict]
    duplicates: dict[str, int]
    conflicts_by_pair: dict[str, int] = field(default_factory=dict)

    @property
    def conflicts_total(self) -> int:
        return len(self.conflicts)

    @property
    def conflicts_by_element(self) -> dict[str, int]:
        return dict(sorted(Counter(c.element for c in self.conflicts).items()))

    def as_dict(
        self, *, reveal: bool = False, masker_for: MaskerFor | None = None
    ) -> dict[str, Any]:
        """The report as the ``--json`` document. Keys and personal (or sensitive and above)
        values are masked unless ``reveal``: a report is mailed around, the data is not."""
        return {
            "key": self.key,
            "sources": {name: s.as_dict() for name, s in self.sources.items()},
            "conflicts_total": self.conflicts_total,
            "conflicts_by_element": self.conflicts_by_element,
            "conflicts_by_pair": dict(self.conflicts_by_pair),
            "duplicates": dict(self.duplicates),
            "conflicts": [self._conflict(c, reveal, masker_for) for c in self.conflicts],
        }

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


def _masked(source: Source, name: str, value: Any, masker_for: MaskerFor | None) -> Any:
    extra = _extra(source.service, name)
    level = Level(str(extra.get(X_LEVEL, Level.CORE.value)))
    if value is None or not (extra.get(X_PERSONAL) or level >= Level.SENSITIVE):
        return value
    if masker_for is None:
        return "****"
    return masker_for(source.service, name)(value)


def _extra(service: Service, name: str) -> dict[str, Any]:
    info = service.record_model.model_fields[name]
    return info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}


def find_sources(registry: Registry, key: str, elements: Iterable[str] | None) -> list[Source]:
    """Every dataset of a configured connector with a field holding ``key`` (by its element or
    its type) and at least one other element; ``elements`` narrows which elements count."""
    if key not in KEY_ELEMENTS:
        raise ConfigurationError(f"unknown key {key!r}: one of {', '.join(KEY_ELEMENTS)}")
    wanted = set(elements) if elements else None
    found: list[Source] = []
    for service in registry.services():
        if service.kind != "dataset" or not registry.is_configured(service.connector.name):
            continue
        key_field: str | None = None
        held: dict[str, str] = {}
        for name, info in service.record_model.model_fields.items():
            element = _extra(service, name).get(X_ELEMENT)
            base = _unwrap(info.annotation)
            if element == KEY_ELEMENTS[key] or (
                element is None and isinstance(base, type) and issubclass(base, _KEY_TYPES[key])
            ):
                key_field = key_field or name
            elif (
                element
                and element not in KEY_ELEMENTS.values()
                and (wanted is None or element in wanted)
            ):
                held.setdefault(element, name)
        whole = not any(f.is_required() for f in service.params_model.model_fields.values())
        if key_field is not None and held and whole:
            claimed = [e for e in service.resource.authoritative if e in held]
            found.append(Source(service.qualified_name, service, key_field, held, claimed))
    return found


def crosscheck(
    registry: Registry,
    key: str = "citizen_id",
    elements: Iterable[str] | None = None,
    *,
    workdir: str | Path | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> CrosscheckReport:
    """Cross-check every shared element of every dataset carrying ``key``.

    Only elements held by two sources or more are compared ("default all shared"). ``settings``
    gives a connector's settings in code (by connector name), as the demo does so that no
    ``GOVCONNECT_*`` of the shell changes it; others come from the environment over the file. Raises
    :class:`ConfigurationError` when fewer than two sources carry the key, since nothing can be
    compared, and :class:`ConnectorError` naming the connector and dataset whose read failed
    (never the driver's text, which may quote a citizen ID). Datasets that need parameters to
    run (they cannot be read whole) are not sources.
    """
    sources = find_sources(registry, key, elements)
    counts = Counter(e for s in sources for e in s.elements)
    shared = sorted(e for e, n in counts.items() if n > 1)
    if elements:
        unknown = sorted(set(elements) - set(shared))
        if unknown:
            raise ConfigurationError(
                f"element(s) {', '.join(unknown)} are not held by two sources carrying {key}"
            )
    sources = [s for s in sources if any(e in shared for e in s.elements)]
    for s in sources:
        s.elements = {e: f for e, f in s.elements.items() if e in shared}
    if len(sources) < 2:
        raise ConfigurationError(
            f"cross-check by {key} needs two datasets sharing an element; found "
            f"{len(sources)} ({', '.join(s.name for s in sources) or 'none'})"
        )
    with tempfile.TemporaryDirectory(prefix="govconnect-crosscheck-", dir=workdir) as tmp:
        db = _open(Path(tmp) / "index.sqlite")
        try:
            return _run(registry, db, key, sources, shared, settings or {})
        finally:
            db.close()


def _open(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA cache_size=-{_CACHE_KIB}")
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA temp_store=FILE")
    db.execute("CREATE TABLE rec (key TEXT NOT NULL, src INTEGER NOT NULL)")
    db.execute(
        "CREATE TABLE val (key TEXT NOT NULL, elem INTEGER NOT NULL, src INTEGER NOT NULL, "
        "norm TEXT NOT NULL, raw TEXT)"
    )
    return db


def _run(
    registry: Registry,
    db: sqlite3.Connection,
    key: str,
    sources: list[Source],
    shared: list[str],
    settings: Mapping[str, Mapping[str, Any]],
) -> CrosscheckReport:
    elem_id = {e: i for i, e in enumerate(shared)}
    for src_id, source in enumerate(sources):
        _load(registry, db, src_id, source, elem_id, settings.get(source.service.connector.name))
    db.execute("CREATE INDEX rec_key ON rec (key, src)")
    db.execute("CREATE INDEX val_key ON val (key, elem, src)")
    duplicates = {s.name: 0 for s in sources}
    for src_id, n in db.execute(
        "SELECT src, COUNT(*) FROM (SELECT src, key FROM rec GROUP BY src, key HAVING COUNT(*) > 1)"
        " GROUP BY src"
    ):
        duplicates[sources[src_id].name] = n
    for src_id, n in db.execute(
        "SELECT a.src, COUNT(DISTINCT a.key) FROM rec a WHERE EXISTS "
        "(SELECT 1 FROM rec b WHERE b.key = a.key AND b.src <> a.src) GROUP BY a.src"
    ):
        sources[src_id].keys_compared = n
    conflicts = list(_conflicts(db, key, sources, shared))
    pairs: Counter[str] = Counter()
    for c in conflicts:
        names = list(c.values)
        norms = c.norms
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if norms[a] != norms[b]:
                    pairs[f"{a} ↔ {b}"] += 1
    return CrosscheckReport(
        key,
        {s.name: s for s in sources},
        conflicts,
        duplicates,
        dict(sorted(pairs.items())),
    )


def _load(
    registry: Registry,
    db: sqlite3.Connection,
    src_id: int,
    source: Source,
    elem_id: dict[str, int],
    settings: Mapping[str, Any] | None,
) -> None:
    """Stream one source into the index in batches: first record of a key wins (later ones are
    counted as duplicates, not compared, so a source never conflicts with itself)."""
    tables = {
        e: registry.code_tables.get(str(_extra(source.service, f).get(X_CODE_TABLE)))
        for e, f in source.elements.items()
    }
    fields = [(elem_id[e], f, tables[e]) for e, f in source.elements.items()]
    service = source.service
    with (
        connector_faults(service.connector.name, service.name),
        registry.connector(service.connector.name, settings) as connector,
    ):
        for batch in _batches(connector, source):
            keys: list[tuple[str, int]] = []
            values: list[tuple[str, int, int, str, str]] = []
            for record in batch:
                k = getattr(record, source.key_field)
                if k is None:
                    continue
                k = str(k).strip().upper()
                keys.append((k, src_id))
                for elem, f, table in fields:
                    raw = getattr(record, f)
                    norm = normalise(raw, table)
                    if norm is not None:
                        values.append((k, elem, src_id, norm, _raw(raw)))
            db.executemany("INSERT INTO rec VALUES (?, ?)", keys)
            db.executemany("INSERT INTO val VALUES (?, ?, ?, ?, ?)", values)


def _batches(connector: Connector, source: Source) -> Iterator[list[BaseModel]]:
    """The source's records in batches, each validated into the record model. A record that
    fails validation (a wrong check digit, a missing name) is counted as invalid and left out:
    it cannot be joined or compared, and one bad row must not hide the rest. No value of it is
    kept, since a validation error quotes its input."""
    service = source.service
    model = service.record_model
    params = validate_model(service.params_model, {}, "params")
    produced = (
        service.function(connector, params) if service.takes_params else service.function(connector)
    )
    items = iter(produced)
    while chunk := list(islice(items, _BATCH)):
        batch: list[BaseModel] = []
        for item in chunk:
            try:
                batch.append(item if isinstance(item, model) else model.model_validate(item))
            except ValidationError:
                source.invalid += 1
        source.records += len(chunk)
        yield batch


def _raw(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _conflicts(
    db: sqlite3.Connection, key: str, sources: list[Source], shared: list[str]
) -> Iterator[Conflict]:
    """Each (key, element) whose first values in two sources or more differ after normalising.
    SQLite's bare columns with MIN(rowid) give each source's first record of a key."""
    firsts = "SELECT key, elem, src, norm, raw, MIN(rowid) FROM val GROUP BY key, elem, src"
    query = (
        f"SELECT key, elem FROM ({firsts}) GROUP BY key, elem "
        "HAVING COUNT(*) > 1 AND COUNT(DISTINCT norm) > 1 ORDER BY key, elem"
    )
    detail = (
        "SELECT src, norm, raw, MIN(rowid) FROM val WHERE key = ? AND elem = ? GROUP BY src "
        "ORDER BY src"
    )
    look = db.cursor()
    for k, elem in db.execute(query):
        element = shared[elem]
        rows = look.execute(detail, (k, elem)).fetchall()
        values = {sources[s].name: raw for s, _, raw, _ in rows}
        norms = {sources[s].name: norm for s, norm, _, _ in rows}
        owner = next(
            (sources[s].name for s, *_ in rows if element in sources[s].authoritative), None
        )
        yield Conflict(k, element, values, owner, norms)
