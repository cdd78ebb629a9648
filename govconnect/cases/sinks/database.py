"""Database write (写数据库): one transaction per case, keyed by the case-id column — and, when
the legacy database also holds the outbox, the case's status in that same transaction."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from ..._exceptions import (
    ConfigurationError,
    InvalidInputError,
    OneTransactionRefused,
    Problem,
    RetryableError,
)
from .base import SinkResult
from .targets import fit_target

__all__ = ["CommitMode", "DatabaseSink", "OneTransactionRefused"]


@dataclass(frozen=True)
class CommitMode:
    """How a sink's cases commit with the statuses that report them: in ``one_transaction``
    (the legacy database holds the outbox), or in two stores, the case first; ``reason`` says why."""

    one_transaction: bool
    reason: str

    def __str__(self) -> str:
        how = "one transaction" if self.one_transaction else "two stores (case, then status)"
        return f"{how}: {self.reason}"


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

    ``transactional`` says whether the case row and the status that reports it (``accepted``,
    with the intake journal's row) commit in one transaction. That needs the outbox in a schema
    of this same PostgreSQL database, reached through psycopg 3 (``postgresql+psycopg://``),
    and a role allowed to write it; the bridge asks :meth:`bind_outbox` when it opens the sink.
    ``"auto"`` (the default) takes one transaction when all that holds and two stores otherwise
    (a crash between them is then covered by this sink's idempotency: the redelivered case is a
    "duplicate" and is reported then); ``True`` requires it and refuses to start without it;
    ``False`` keeps two stores.
    """

    def __init__(
        self,
        engine: sa.Engine,
        table: sa.Table,
        key: str,
        *,
        on_conflict: Literal["keep", "update"] = "keep",
        extra: Callable[[sa.Connection, str, Mapping[str, Any]], None] | None = None,
        transactional: bool | Literal["auto"] = "auto",
    ) -> None:
        if key not in table.c:
            raise ValueError(f"table {table.name!r} has no column {key!r}")
        if on_conflict not in ("keep", "update"):
            raise ValueError(f"on_conflict is 'keep' or 'update', not {on_conflict!r}")
        if transactional not in (True, False, "auto"):
            raise ValueError(f"transactional is True, False or 'auto', not {transactional!r}")
        self.engine, self.table, self.key = engine, table, key
        self.on_conflict, self.extra = on_conflict, extra
        self.transactional = transactional
        self.outbox: Any = None
        """The outbox whose writes join this sink's transactions (set by :meth:`bind_outbox`)."""

    def bind_outbox(self, outbox: Any) -> CommitMode:
        """Decide how this sink's cases commit with their statuses in ``outbox``, and say so.

        One transaction when ``transactional`` allows it and the outbox can write on this
        sink's connections (``outbox.can_join``: same server and database, proved; the grants).
        Otherwise two stores — or, with ``transactional=True``, a :class:`ConfigurationError`
        naming the setting and the reason. A legacy database that cannot be reached to decide
        raises :class:`RetryableError` (decided again at the next case).
        """
        self.outbox = None
        if self.transactional is False:
            return CommitMode(False, "DatabaseSink(transactional=False)")
        reason = self._cannot_join(outbox)
        if reason is None:
            self.outbox = outbox
            return CommitMode(True, f"the legacy database holds the outbox ({outbox.path})")
        if self.transactional is True:
            raise OneTransactionRefused(
                f"DatabaseSink(transactional=True) for table {self.table.name!r} cannot commit a"
                f" case and its status in one transaction: {reason}. Put the outbox in a schema"
                ' of the legacy database (docs/deployment.md, "Transactional outbox in the'
                " legacy database\"), or set transactional='auto' to accept two stores"
            )
        return CommitMode(False, reason)

    def _cannot_join(self, outbox: Any) -> str | None:
        dialect = self.engine.dialect
        if dialect.name != "postgresql":
            return f"the legacy database is {dialect.name}, not PostgreSQL"
        can_join = getattr(outbox, "can_join", None)
        if can_join is None:
            return f"the outbox ({type(outbox).__name__}) cannot join another transaction"
        if getattr(outbox, "is_file", False):
            return str(can_join(None))
        try:
            with self.engine.connect() as conn:
                return can_join(conn.connection.driver_connection)  # type: ignore[no-any-return]
        except sa.exc.OperationalError as exc:
            raise RetryableError(f"legacy database unavailable: {_reason(exc)}") from None

    def write(
        self,
        case_id: str,
        values: Mapping[str, Any],
        *,
        then: Callable[[SinkResult], None] | None = None,
    ) -> SinkResult:
        """Write the case (idempotently, see the class); ``then(result)``, given only to a sink
        bound to an outbox (:meth:`bind_outbox` chose one transaction), runs inside the case's
        transaction before it commits, with the outbox's writes joined to it: if it raises,
        nothing of the case is written."""
        if then is not None and self.outbox is None:
            raise ConfigurationError(
                f"DatabaseSink for table {self.table.name!r}: write(then=...) needs one"
                " transaction with the outbox, and bind_outbox() did not choose it"
            )
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
            return self._write(case_id, values, row, then)
        except sa.exc.IntegrityError as exc:
            if self._exists(case_id):  # a concurrent writer inserted this case first
                return self._write(case_id, values, row, then)
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

    def _write(
        self,
        case_id: str,
        values: Mapping[str, Any],
        row: dict[str, Any],
        then: Callable[[SinkResult], None] | None,
    ) -> SinkResult:
        key_col = self.table.c[self.key]
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(key_col).where(key_col == case_id).with_for_update()
            ).first()
            if exists is None:
                conn.execute(self.table.insert().values(**row))
            elif self.on_conflict == "update":
                conn.execute(self.table.update().where(key_col == case_id).values(**row))
            if self.extra is not None and (exists is None or self.on_conflict == "update"):
                self.extra(conn, case_id, values)
            result = SinkResult(applied=exists is None, reference=f"{self.table.name}:{case_id}")
            if then is not None:
                with self.outbox.joined(conn.connection.driver_connection):
                    then(result)
        return result

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
