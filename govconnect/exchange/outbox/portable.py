"""SQL written once for both outbox engines, for the modules that keep state beside the outbox.

The intake journal and the publishing state live in the outbox's store (the SQLite file, or the
PostgreSQL schema) so that their rows commit in the same transaction as the outbox rows they
account for (the ``within(conn)`` callbacks). Those callbacks get the engine's own connection: a
``sqlite3.Connection`` or a psycopg one. Rather than two copies of the same logic, they write
SQL both engines run (``INSERT … ON CONFLICT``, no ``INSERT OR REPLACE``) with SQLite's ``?``
placeholders, and call :func:`execute` / :func:`executemany`, which give psycopg its ``%s``.
DDL differs in two words only (``BLOB``/``bytea``, ``WITHOUT ROWID``): :func:`ddl` fills them in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["ddl", "execute", "executemany", "in_values", "insert_rows", "is_sqlite", "statements"]


def is_sqlite(conn: Any) -> bool:
    """Whether ``conn`` is a SQLite connection (else: psycopg's)."""
    return isinstance(conn, sqlite3.Connection)


def execute(conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
    """Run ``sql``, written with SQLite's ``?`` placeholders, on either engine's connection."""
    if not is_sqlite(conn):
        sql = sql.replace("?", "%s")
    return conn.execute(sql, params)


def executemany(conn: Any, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """Run ``sql`` once per row on either engine's connection (psycopg pipelines them)."""
    if is_sqlite(conn):
        conn.executemany(sql, rows)
        return
    with conn.cursor() as cursor:
        cursor.executemany(sql.replace("?", "%s"), list(rows))


def insert_rows(
    conn: Any, head: str, rows: Sequence[Sequence[Any]], tail: str = "", *, per: int = 500
) -> None:
    """``head VALUES (…), (…), … tail`` for ``rows``, ``per`` rows a statement: one statement
    where :func:`executemany` runs one per row (seven times faster on PostgreSQL for a batch
    of fingerprints, faster on SQLite too). ``tail`` may be an ``ON CONFLICT`` clause; then no
    two rows may share a key (PostgreSQL refuses to update a row twice in one statement)."""
    if not rows:
        return
    marks = "(" + ", ".join("?" * len(rows[0])) + ")"
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        values = ", ".join([marks] * len(chunk))
        execute(conn, f"{head} VALUES {values} {tail}", [v for row in chunk for v in row])


def in_values(sqlite: bool, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """``column IN (?, …)`` on SQLite (keep ``values`` under its 32,766 parameters), ``column =
    ANY(?)`` with one array on PostgreSQL: its planner takes long over a list of hundreds of
    parameters (0.8 s for 900 keys), not over an array. Returns the condition and its parameters."""
    if sqlite:
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)
    return f"{column} = ANY(?)", [list(values)]


def ddl(sqlite: bool, text: str) -> str:
    """Table definitions for one engine: ``{blob}`` is a byte string column's type and
    ``{without_rowid}`` SQLite's clustered-table option (nothing on PostgreSQL). Write
    ``double precision`` for times: PostgreSQL's ``REAL`` is 4 bytes, too coarse for seconds."""
    return text.format(
        blob="BLOB" if sqlite else "bytea", without_rowid=" WITHOUT ROWID" if sqlite else ""
    )


def statements(text: str) -> list[str]:
    """The statements of a ``;``-separated script (no ``;`` inside a literal), to run one by one
    inside a transaction (``sqlite3``'s ``executescript`` would commit it)."""
    return [s.strip() for s in text.split(";") if s.strip()]
