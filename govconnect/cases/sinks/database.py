"""Database write (写数据库): one transaction per case, keyed by the case-id column."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import sqlalchemy as sa

from ..._exceptions import InvalidInputError, Problem, RetryableError
from .base import SinkResult
from .targets import fit_target

__all__ = ["DatabaseSink"]


class DatabaseSink:
    """Write each case as one row (plus, optionally, child rows) in one transaction, keyed by the
    case-id column, so a redelivered case never adds a second row.

    ``on_conflict`` says what a redelivered case does to its existing row: ``"keep"`` (the
    default) leaves it alone — the legacy system may already have moved it on (a clerk took it up),
    and rewriting it would undo that — while ``"update"`` overwrites it with the new values.
    ``extra(conn, case_id, values)`` runs inside the same transaction (child tables, an audit row of
    the legacy system); if it raises, nothing of the case is written.

    Before anything is written the row is checked against the table's own columns
    (:func:`~.targets.fit_target`: types, ``VARCHAR`` lengths, integer ranges, NOT NULL): a value
    that does not fit returns the case naming the column instead of being truncated, stringified
    or failing as a driver error that would be blamed on the department.
    """

    def __init__(
        self,
        engine: sa.Engine,
        table: sa.Table,
        key: str,
        *,
        on_conflict: Literal["keep", "update"] = "keep",
        extra: Callable[[sa.Connection, str, Mapping[str, Any]], None] | None = None,
    ) -> None:
        if key not in table.c:
            raise ValueError(f"table {table.name!r} has no column {key!r}")
        if on_conflict not in ("keep", "update"):
            raise ValueError(f"on_conflict is 'keep' or 'update', not {on_conflict!r}")
        self.engine, self.table, self.key = engine, table, key
        self.on_conflict, self.extra = on_conflict, extra

    def write(self, case_id: str, values: Mapping[str, Any]) -> SinkResult:
        row = {**values, self.key: case_id}
        unknown = sorted(set(row) - set(self.table.c.keys()))
        if unknown:
            raise InvalidInputError(
                [
                    Problem(name, "column.unknown", f"{self.table.name} has no column {name!r}")
                    for name in unknown
                ]
            )
        row = fit_target(self.table, row)  # SQLite enforces no VARCHAR(n): the SDK does
        try:
            return self._write(case_id, values, row)
        except sa.exc.IntegrityError as exc:
            if self._exists(case_id):  # a concurrent writer inserted this case first
                return self._write(case_id, values, row)
            raise InvalidInputError(
                [Problem(self.table.name, "database.integrity", _reason(exc))]
            ) from None
        except sa.exc.DataError as exc:
            raise InvalidInputError(
                [Problem(self.table.name, "database.data", _reason(exc))]
            ) from None
        except sa.exc.OperationalError as exc:
            if not _is_transient(exc):
                raise InvalidInputError(
                    [Problem(self.table.name, "database.refused", _reason(exc))]
                ) from None
            raise RetryableError(f"legacy database unavailable: {_reason(exc)}") from None

    def _write(self, case_id: str, values: Mapping[str, Any], row: dict[str, Any]) -> SinkResult:
        key_col = self.table.c[self.key]
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(key_col).where(key_col == case_id).with_for_update()
            ).first()
            if exists is None:
                conn.execute(self.table.insert().values(**row))
            elif self.on_conflict == "update":
                conn.execute(self.table.update().where(key_col == case_id).values(**row))
            else:
                return SinkResult(applied=False, reference=f"{self.table.name}:{case_id}")
            if self.extra is not None:
                self.extra(conn, case_id, values)
        return SinkResult(applied=exists is None, reference=f"{self.table.name}:{case_id}")

    def _exists(self, case_id: str) -> bool:
        key_col = self.table.c[self.key]
        try:
            with self.engine.connect() as conn:
                return (
                    conn.execute(sa.select(key_col).where(key_col == case_id)).first() is not None
                )
        except sa.exc.SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


_REDACT = (
    (re.compile(r"entry '[^']*'"), "entry '…'"),  # MySQL: Duplicate entry '<value>' for key …
    (re.compile(r': "[^"]*"'), ': "…"'),  # PostgreSQL: invalid input syntax for type …: "<value>"
    (re.compile(r"\(([^()]*)\)=\([^()]*\)"), r"(\1)=(…)"),  # PostgreSQL detail: Key (c)=(<value>)
)


def _reason(exc: sa.exc.DBAPIError) -> str:
    """The driver's first line, with the values it quotes removed: they may be citizen IDs, and
    this text travels to logs and back to the applicant."""
    text = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
    for pattern, replacement in _REDACT:
        text = pattern.sub(replacement, text)
    return text


_MYSQL_TRANSIENT = {1040, 1205, 1213, 2002, 2003, 2006, 2013}


def _is_transient(exc: sa.exc.OperationalError) -> bool:
    """Connection trouble, locks and deadlocks may pass; MySQL's data errors (e.g. 1364, a field
    without a default) arrive as OperationalError too and will never succeed."""
    if exc.connection_invalidated:
        return True
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    if isinstance(code, int):
        return code in _MYSQL_TRANSIENT
    return True
