"""The cross-check itself: find the sources, spill their values to SQLite, report what differs.

Why SQLite: a department's household register has millions of rows and the cross-check reads
several such datasets at once. Holding them in dictionaries would grow with N; a temporary SQLite
file with a bounded page cache keeps memory flat, and its indexes do the join by key and the
grouping in C. The conflicts come back into Python one at a time and go straight to the report's
conflict log (``report``), another SQLite file, so a run with a million conflicts stays flat too.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .._connector import Connector, connector_faults
from .._exceptions import ConfigurationError
from .._registry import Registry
from .._validation import validate_model
from ..catalog.fields import X_CODE_TABLE, X_ELEMENT, _unwrap
from ..catalog.identity import CitizenId, CreditCode
from ..catalog.model import KEY_ELEMENTS
from .normalise import normalise
from .report import Conflict, ConflictLog, CrosscheckReport, Masker, Source
from .report import extra_of as _extra

__all__ = ["Conflict", "CrosscheckReport", "Masker", "Source", "crosscheck", "find_sources"]

_KEY_TYPES: dict[str, type] = {"citizen_id": CitizenId, "credit_code": CreditCode}
_BATCH = 5000
_CACHE_KIB = 16 * 1024


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
    folder = tempfile.mkdtemp(prefix="govconnect-crosscheck-", dir=workdir)
    log: ConflictLog | None = None
    try:
        log = ConflictLog(Path(folder) / "conflicts.sqlite")
        db = _open(Path(folder) / "index.sqlite")
        try:
            report = _run(registry, db, key, sources, shared, settings or {}, log, folder)
        finally:
            db.close()
        (Path(folder) / "index.sqlite").unlink()  # the report needs only its conflicts
        return report
    except BaseException:
        if log is not None:
            log.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise


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
    log: ConflictLog,
    folder: str,
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
    pairs: Counter[str] = Counter()
    found = _conflicts(db, key, sources, shared)
    while chunk := list(islice(found, _BATCH)):  # to disk as found: memory flat in conflicts
        for c in chunk:
            names = list(c.values)
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    if c.norms[a] != c.norms[b]:
                        pairs[f"{a} ↔ {b}"] += 1
        log.extend(chunk)
    return CrosscheckReport(
        key,
        {s.name: s for s in sources},
        log,
        duplicates,
        dict(sorted(pairs.items())),
        folder,
    )


def _load(
    registry: Registry,
    db: sqlite3.Connection,
    src_id: int,
    source: Source,
    elem_id: dict[str, int],
    settings: Mapping[str, Any] | None,
) -> None:
    """Stream one source into the index in batches. Every record of a key is kept; a key held
    more than once is counted as a duplicate and compared by one value per element (see
    :func:`_conflicts`), so a source never conflicts with itself."""
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
    """Each (key, element) whose values in two sources or more differ after normalising.

    A source holding a key more than once (counted under ``duplicates``) is represented by the
    smallest normalised value of its records, and its smallest raw spelling of it: the same
    choice whatever order the source returns its rows in, so the same dispute gives the same
    notice id run after run (the first row returned would not be: a query without ``ORDER BY``
    may return another first row next time)."""
    chosen = "SELECT key, elem, src, MIN(norm) AS norm FROM val GROUP BY key, elem, src"
    query = (
        f"SELECT key, elem FROM ({chosen}) GROUP BY key, elem "
        "HAVING COUNT(*) > 1 AND COUNT(DISTINCT norm) > 1 ORDER BY key, elem"
    )
    detail = "SELECT src, norm, raw FROM val WHERE key = ? AND elem = ? ORDER BY src, norm, raw"
    look = db.cursor()
    for k, elem in db.execute(query):
        element = shared[elem]
        rows: dict[int, tuple[str, str]] = {}
        for src, norm, raw in look.execute(detail, (k, elem)):
            rows.setdefault(src, (norm, raw))  # the first of each source: its smallest
        values = {sources[s].name: raw for s, (_, raw) in rows.items()}
        norms = {sources[s].name: norm for s, (norm, _) in rows.items()}
        owner = next((sources[s].name for s in rows if element in sources[s].authoritative), None)
        yield Conflict(k, element, values, owner, norms)
