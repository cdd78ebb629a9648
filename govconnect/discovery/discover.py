"""``discover(url)``: reflect a legacy database, sample each table, and suggest catalog metadata.

The steps are: open a read-only engine (:mod:`.sampling`); reflect tables, columns, keys and
indexes with SQLAlchemy's inspector (batch reflection where the dialect has it, so 300 tables cost
a handful of catalog queries on PostgreSQL); then per table, in its own rolled-back transaction,
read the row estimate and a bounded sample; run the detectors over each column (:mod:`.classify`).

Failures are kept as small as the cause: a database that cannot be reached or refuses the
credentials raises :class:`~govconnect.DiscoveryError` (nothing can be discovered); a table that is
missing, unreadable (permission denied) or too slow is reported with its ``error`` and every other
table is still discovered.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Dialect, Engine, make_url
from sqlalchemy.engine.reflection import Inspector

from .._config import MASK, mask_url_passwords
from .._exceptions import DiscoveryError
from .._registry import Registry, _call_each, load_registry
from .classify import Toolkit, candidate_key, replication_key, suggest
from .detectors import Detector
from .dictionary import Dictionary
from .model import ColumnReport, DiscoveryReport, TableReport
from .sampling import COUNT_CAP, Sample, Sampler, open_engine, sampler_for
from .sqltypes import catalog_type, is_binary, type_name

__all__ = ["CELL_BUDGET", "DEFAULT_SAMPLE", "DEFAULT_TIMEOUT", "discover", "safe_url"]

log = logging.getLogger(__name__)

DEFAULT_SAMPLE = 1000
DEFAULT_TIMEOUT = 30.0
CELL_BUDGET = 200_000
"""At most this many values are sampled per table: a 2,000-column table gets 100 rows, not 1000."""


def safe_url(url: str | URL) -> str:
    """The URL as it may be printed: the password masked as everywhere else in the CLI."""
    try:
        return mask_url_passwords(make_url(url).render_as_string(hide_password=False))
    except Exception:
        return "<unparseable database URL>"


def _scrub(message: str, url: URL) -> str:
    """A driver's message, first line only, without the password (some drivers echo the DSN)."""
    line = (message.strip().splitlines() or ["unknown error"])[0]
    if url.password:
        line = line.replace(str(url.password), MASK)
    return line


def _driver_message(exc: BaseException, url: URL) -> str:
    orig = getattr(exc, "orig", None)
    return _scrub(str(orig if orig is not None else exc), url)


_TIMEOUT_WORDS = ("timeout", "max_statement_time", "max_execution_time", "interrupted")


def _failure(table: str, stage: str, exc: BaseException, url: URL, timeout: float) -> str:
    """One line naming the table; a statement timeout says so in the same words on every backend."""
    message = _driver_message(exc, url)
    if any(word in message.lower() for word in _TIMEOUT_WORDS):
        message = f"statement timed out after {timeout:g} s: {message}"
    return f"table {table!r}: {stage} ({message})"


def toolkit(registry: Registry) -> Toolkit:
    """The dictionary, detectors and code tables the registry's plugins contribute."""
    dictionary = Dictionary({})
    for _name, terms in _call_each(registry, "discovery_dictionary"):
        dictionary.update(terms or {})
    detectors: list[Detector] = []
    for _name, found in _call_each(registry, "register_detectors"):
        detectors.extend(found or ())
    return Toolkit(dictionary, detectors, registry.code_tables)


def declared(info: Mapping[str, Any], dialect: Dialect) -> ColumnReport:
    """A column's declared facts from reflection, before any suggestion."""
    data_type, python_type, length = catalog_type(info["type"])
    return ColumnReport(
        name=info["name"],
        sql_type=type_name(info["type"], dialect),
        nullable=bool(info.get("nullable", True)),
        length=length,
        data_type=data_type,
        python_type=python_type,
    )


def discover(
    url: str | URL,
    *,
    schema: str | None = None,
    tables: Sequence[str] | None = None,
    sample: int = DEFAULT_SAMPLE,
    timeout: float = DEFAULT_TIMEOUT,
    registry: Registry | None = None,
) -> DiscoveryReport:
    """Discover ``tables`` (default: all) of ``schema`` (default: the connection's) at ``url``.

    ``sample`` bounds the rows read per table; ``timeout`` (seconds) bounds every statement.
    Dictionary entries, detectors and code tables come from the plugins of ``registry`` (loaded
    when not given). Raises :class:`~govconnect.DiscoveryError` when the database cannot be used.
    """
    if sample < 1:
        raise DiscoveryError(f"the sample must be at least 1 row, got {sample}")
    try:
        parsed = make_url(url)
    except Exception:
        raise DiscoveryError(
            "not a database URL (expected dialect+driver://user@host/db)"
        ) from None
    shown = safe_url(parsed)
    _refuse_missing_sqlite_file(parsed)
    registry = registry if registry is not None else load_registry()
    tools = toolkit(registry)
    try:
        engine = open_engine(parsed, timeout)
    except Exception as exc:  # unknown dialect, driver not installed
        raise DiscoveryError(f"cannot use {shown}: {_driver_message(exc, parsed)}") from None
    report = DiscoveryReport(url=shown, sample_size=sample)
    try:
        with _connect(engine, parsed, shown) as conn:
            inspector = sa.inspect(conn)
            names = _table_names(inspector, schema, parsed, shown)
            wanted = [_resolve(n, names) for n in tables] if tables else names
            reflected = _reflect(conn, inspector, schema, [n for n in wanted if n in names])
            conn.rollback()
            sampler = sampler_for(engine, timeout)
            for name in wanted:
                if name not in names:
                    where = f"schema {schema!r}" if schema else "the database"
                    report.tables.append(
                        TableReport(name, schema, error=f"table {name!r} does not exist in {where}")
                    )
                    continue
                report.tables.append(
                    _discover_table(
                        conn, sampler, name, schema, reflected[name], sample, tools, parsed
                    )
                )
    except sa.exc.SQLAlchemyError as exc:  # the connection itself failed mid-way
        raise DiscoveryError(
            f"discovering {shown} failed: {_driver_message(exc, parsed)}"
        ) from None
    finally:
        engine.dispose()
    return report


def _resolve(name: str, names: Sequence[str]) -> str:
    """``--table rk_jbxx`` finds ``RK_JBXX`` when exactly one table matches without case."""
    if name in names:
        return name
    folded = [n for n in names if n.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else name


def _refuse_missing_sqlite_file(url: URL) -> None:
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and database and database != ":memory:":
        path = Path(database.removeprefix("file:").split("?", 1)[0])
        if not path.is_file():
            raise DiscoveryError(f"SQLite database file {str(path)!r} does not exist")


def _connect(engine: Engine, url: URL, shown: str) -> Connection:
    try:
        return engine.connect()
    except Exception as exc:  # DBAPIError, or a driver's own error before it gets wrapped
        raise DiscoveryError(f"cannot connect to {shown}: {_driver_message(exc, url)}") from None


def _table_names(inspector: Inspector, schema: str | None, url: URL, shown: str) -> list[str]:
    try:
        names = list(inspector.get_table_names(schema=schema))
    except sa.exc.DBAPIError as exc:
        what = f"schema {schema!r}" if schema else "the tables"
        raise DiscoveryError(
            f"cannot list {what} of {shown}: {_driver_message(exc, url)}"
        ) from None
    if schema and not names and schema not in inspector.get_schema_names():
        raise DiscoveryError(f"schema {schema!r} does not exist in {shown}")
    return names


def _reflect(
    conn: Connection, inspector: Inspector, schema: str | None, names: list[str]
) -> dict[str, dict[str, Any]]:
    """Columns, primary key, unique constraints and indexes per table, batched where possible."""
    out: dict[str, dict[str, Any]] = {n: {} for n in names}
    if not names:
        return out
    parts: Iterable[tuple[str, str]] = (
        ("columns", "get_multi_columns"),
        ("pk", "get_multi_pk_constraint"),
        ("unique", "get_multi_unique_constraints"),
        ("indexes", "get_multi_indexes"),
    )
    for part, method in parts:
        try:
            found = getattr(inspector, method)(schema=schema, filter_names=names)
        except (sa.exc.DBAPIError, NotImplementedError) as exc:  # per table below
            log.info("batch reflection %s failed (%s); reflecting table by table", method, exc)
            found = {}
            conn.rollback()  # PostgreSQL: the failed statement aborted the transaction
        for (_schema, table), value in found.items():
            if table in out:
                out[table][part] = value
    return out


def _reflect_one(
    inspector: Inspector, name: str, schema: str | None, facts: dict[str, Any]
) -> None:
    single = {
        "columns": inspector.get_columns,
        "pk": inspector.get_pk_constraint,
        "unique": inspector.get_unique_constraints,
        "indexes": inspector.get_indexes,
    }
    for part, fn in single.items():
        if part not in facts:
            try:
                facts[part] = fn(name, schema=schema)
            except NotImplementedError:
                facts[part] = [] if part != "pk" else {}


def _discover_table(
    conn: Connection,
    sampler: Sampler,
    name: str,
    schema: str | None,
    facts: dict[str, Any],
    sample_size: int,
    tools: Toolkit,
    url: URL,
) -> TableReport:
    table = TableReport(name, schema)
    try:
        _reflect_one(sa.inspect(conn), name, schema, facts)
    except sa.exc.DBAPIError as exc:
        table.error = _failure(name, "cannot reflect", exc, url, sampler.timeout)
        return table
    finally:
        if conn.in_transaction():
            conn.rollback()
    columns = facts["columns"]
    if not columns:
        table.error = f"table {name!r}: no columns visible (permission denied?)"
        return table
    readable = [c["name"] for c in columns if not is_binary(c["type"])]
    limit = max(1, min(sample_size, CELL_BUDGET // max(1, len(readable))))
    if limit < sample_size:
        table.reasons.append(f"sampled at most {limit} rows: the table has {len(columns)} columns.")
    try:
        with conn.begin() as tx:
            sampler.begin(conn)
            try:
                estimate = sampler.estimate(conn, name, schema)
                got: Sample = sampler.sample(conn, name, schema, readable, limit, estimate)
                if got.exhaustive:
                    estimate = got.rows
                elif estimate is None:
                    estimate = sampler.bounded_count(conn, name, schema)
                    if estimate >= COUNT_CAP:
                        table.reasons.append(f"rows: at least {COUNT_CAP} (count stopped there).")
            finally:
                sampler.end(conn)
            tx.rollback()
    except sa.exc.DBAPIError as exc:
        table.error = _failure(name, "cannot sample", exc, url, sampler.timeout)
        return table
    table.rows_estimate, table.sampled_rows = estimate, got.rows
    if got.rows == 0:
        table.reasons.append("the table is empty: suggestions come from names and comments alone.")
    for info in columns:
        name_ = info["name"]
        raw = got.values.get(name_) if name_ in got.values else None
        table.columns.append(
            suggest(name, declared(info, conn.dialect), info.get("comment"), raw, tools)
        )
    pk = list((facts.get("pk") or {}).get("constrained_columns") or [])
    unique = [u["column_names"] for u in facts.get("unique") or []]
    unique += [i["column_names"] for i in facts.get("indexes") or [] if i.get("unique")]
    indexed = {i["column_names"][0] for i in facts.get("indexes") or [] if i.get("column_names")}
    indexed |= set(pk[:1])
    candidate_key(table, pk, unique, got.values, got.rows)
    replication_key(table, indexed, pk)
    return table
