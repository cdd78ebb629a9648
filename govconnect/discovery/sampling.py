"""Read-only connections and bounded samples, per dialect.

Discovery runs against production legacy databases, often the only copy of a department's data,
so three promises hold for every dialect:

- **Never write.** The session is read-only where the database can enforce it (PostgreSQL
  ``default_transaction_read_only``, MariaDB/MySQL ``SET SESSION TRANSACTION READ ONLY``, SQLite
  ``PRAGMA query_only``), a SQLite file that does not exist is refused instead of created, and each
  table is read in its own transaction that is rolled back.
- **Never scan a large table.** A sample is ``LIMIT n`` (PostgreSQL uses ``TABLESAMPLE SYSTEM`` on
  top when the row estimate says the table is much larger than the sample); row counts come from
  the catalog's statistics (``pg_class.reltuples``, ``information_schema.tables.table_rows``) and
  fall back to a count bounded by ``LIMIT``.
- **Never hang.** Every statement runs under a timeout (``SET LOCAL statement_timeout``, MariaDB
  ``max_statement_time`` / MySQL ``max_execution_time``, a SQLite progress handler).

Any other SQLAlchemy dialect gets the generic sampler: ``LIMIT n`` in a rolled-back transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

__all__ = ["COUNT_CAP", "Sample", "Sampler", "open_engine", "sampler_for"]

COUNT_CAP = 100_000
"""A fallback row count reads at most this many rows (and says "at least" when it hits the cap)."""


class Sample:
    """Sampled rows, column by column; ``exhaustive`` when the whole table was read (fewer rows
    than the limit from a plain ``LIMIT``; a block sample may return fewer and still be partial)."""

    def __init__(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        limit: int,
        partial: bool = False,
    ) -> None:
        self.rows = len(rows)
        self.exhaustive = len(rows) < limit and not partial
        self.values: dict[str, list[Any]] = {
            name: [row[i] for row in rows] for i, name in enumerate(columns)
        }


def _read_only_session(dialect: str, timeout: float):  # type: ignore[no-untyped-def]
    """A ``connect`` listener that makes every pooled connection read-only and time-limited."""

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if dialect == "postgresql":
                cursor.execute("SET default_transaction_read_only = on")
                cursor.execute(f"SET statement_timeout = {int(timeout * 1000)}")
            elif dialect in ("mysql", "mariadb"):
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                try:
                    cursor.execute(f"SET SESSION max_statement_time = {float(timeout)}")
                except Exception:  # MySQL spells it differently (milliseconds)
                    cursor.execute(f"SET SESSION max_execution_time = {int(timeout * 1000)}")
            elif dialect == "sqlite":
                cursor.execute("PRAGMA query_only = ON")
        finally:
            cursor.close()
        if dialect != "sqlite":
            dbapi_connection.commit()

    return on_connect


def open_engine(url: URL, timeout: float) -> Engine:
    """An engine whose every connection is read-only, with statement parameters hidden."""
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            # mode=ro refuses to create a missing file (plain sqlite3 would create an empty one)
            url = url.set(database=f"file:{quote(database)}", query={"mode": "ro", "uri": "true"})
    engine = sa.create_engine(url, hide_parameters=True, pool_pre_ping=False)
    sa.event.listen(engine, "connect", _read_only_session(engine.dialect.name, timeout))
    return engine


class Sampler:
    """Generic: no row estimate, ``LIMIT n``, whatever timeout the session has."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def begin(self, conn: Connection) -> None:
        """Called first in each table's transaction (statement timeouts go here)."""

    def end(self, conn: Connection) -> None:
        """Called last in each table's transaction."""

    def estimate(self, conn: Connection, table: str, schema: str | None) -> int | None:
        return None

    def sample_query(
        self, table: sa.TableClause, columns: Sequence[str], limit: int, estimate: int | None
    ) -> sa.Select[Any]:
        return sa.select(*(table.c[c] for c in columns)).limit(limit)

    def sample(
        self,
        conn: Connection,
        table: str,
        schema: str | None,
        columns: Sequence[str],
        limit: int,
        estimate: int | None,
    ) -> Sample:
        clause = sa.table(table, *(sa.column(c) for c in columns), schema=schema)
        if not columns:  # every column is binary: count what we may, read nothing
            clause = sa.table(table, schema=schema)
            rows = conn.execute(sa.select(sa.literal(1)).select_from(clause).limit(limit)).all()
            return Sample((), rows, limit)
        blocks = self.samples_blocks(limit, estimate)
        rows = conn.execute(self.sample_query(clause, columns, limit, estimate)).all()
        if blocks and len(rows) < limit:
            # a block sample picks pages at random and may pick few or none (statistics can be
            # stale, small tables have few pages): the first rows are better than no rows, and
            # LIMIT keeps the read bounded all the same
            rows = conn.execute(sa.select(*(clause.c[c] for c in columns)).limit(limit)).all()
        return Sample(columns, rows, limit, partial=blocks)

    def samples_blocks(self, limit: int, estimate: int | None) -> bool:
        """Whether ``sample_query`` reads a random part of the table rather than ``LIMIT n``."""
        return False

    def bounded_count(self, conn: Connection, table: str, schema: str | None) -> int:
        inner = sa.select(sa.literal(1)).select_from(sa.table(table, schema=schema))
        sub = inner.limit(COUNT_CAP).subquery()
        return int(conn.execute(sa.select(sa.func.count()).select_from(sub)).scalar_one())


class PostgresSampler(Sampler):
    def begin(self, conn: Connection) -> None:
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(self.timeout * 1000)}")

    def estimate(self, conn: Connection, table: str, schema: str | None) -> int | None:
        value = conn.execute(
            sa.text(
                "SELECT c.reltuples::bigint FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = :t AND n.nspname = coalesce(:s, current_schema())"
            ),
            {"t": table, "s": schema},
        ).scalar()
        return int(value) if value is not None and value > 0 else None

    def samples_blocks(self, limit: int, estimate: int | None) -> bool:
        return estimate is not None and estimate > 10 * limit

    def sample_query(
        self, table: sa.TableClause, columns: Sequence[str], limit: int, estimate: int | None
    ) -> sa.Select[Any]:
        if self.samples_blocks(limit, estimate):
            percent = min(100.0, 400.0 * limit / (estimate or 1))
            sampled = sa.tablesample(table, sa.func.system(percent))
            return sa.select(*(sampled.c[c] for c in columns)).limit(limit)
        return super().sample_query(table, columns, limit, estimate)


class MySQLSampler(Sampler):
    def estimate(self, conn: Connection, table: str, schema: str | None) -> int | None:
        value = conn.execute(
            sa.text(
                "SELECT table_rows FROM information_schema.tables "
                "WHERE table_schema = coalesce(:s, database()) AND table_name = :t"
            ),
            {"t": table, "s": schema},
        ).scalar()
        return int(value) if value else None


class SQLiteSampler(Sampler):
    def begin(self, conn: Connection) -> None:
        raw = conn.connection.dbapi_connection
        deadline = time.monotonic() + self.timeout
        if raw is not None:
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 1_000)

    def end(self, conn: Connection) -> None:
        raw = conn.connection.dbapi_connection
        if raw is not None:
            raw.set_progress_handler(None, 0)


def sampler_for(engine: Engine, timeout: float) -> Sampler:
    name = engine.dialect.name
    cls = {
        "postgresql": PostgresSampler,
        "mysql": MySQLSampler,
        "mariadb": MySQLSampler,
        "sqlite": SQLiteSampler,
    }.get(name, Sampler)
    return cls(timeout)
