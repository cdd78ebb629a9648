"""The PostgreSQL outbox written on another client's connection: one commit for a legacy row and
the outbox rows that report it.

A ``DatabaseSink`` whose legacy database also holds the outbox (its tables in a ``govconnect``
schema of that database) can insert a case and enqueue its ``accepted`` status in one transaction:
the outbox's writes run on the sink's own psycopg 3 connection, in the transaction the sink
commits (see :meth:`~.postgres.PostgresOutbox.joined`). This module says whether that is possible
(:func:`cannot_join`: same server, same database, the privileges the outbox's writes need) and
prepares the connection for those writes (:func:`enter` / :func:`leave`).
"""

from __future__ import annotations

import secrets
from typing import Any

from ..._exceptions import RetryableError

__all__ = ["cannot_join", "enter", "leave"]

_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")

_JOINED_TABLES = r"^(outbox|intake_)"
"""The tables (and their sequences) the joined writes touch: the outbox's and the intake
journal's. Anything else in the schema — an audit log or publishing state kept there — is not
the legacy role's business, and no grant on it is asked for."""

_MISSING_GRANTS = """
SELECT c.relname, p.privilege FROM pg_class c
CROSS JOIN unnest(%(privileges)s::text[]) AS p(privilege)
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname ~ %(tables)s AND NOT has_table_privilege(c.oid, p.privilege)
UNION ALL
SELECT c.relname, 'USAGE' FROM pg_class c
WHERE c.relnamespace = %(schema)s::regnamespace AND c.relname ~ %(tables)s
  AND CASE WHEN c.relkind = 'S' THEN NOT has_sequence_privilege(c.oid, 'USAGE') ELSE false END
ORDER BY 1, 2
"""
# (The CASE keeps ``has_sequence_privilege`` from meeting a table: the planner may test the
# conditions in any order, and it raises on anything but a sequence.)


def cannot_join(own: Any, other: Any, schema: str, shown: str) -> str | None:
    """Why the outbox cannot be written on ``other`` (see :func:`_cannot_join`), or None; a
    connection lost meanwhile raises :class:`RetryableError` (decided again later)."""
    import psycopg

    try:
        return _cannot_join(own, other, schema, shown)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RetryableError(f"database unavailable while checking the outbox: {reason}") from None


def _cannot_join(own: Any, other: Any, schema: str, shown: str) -> str | None:
    """Why the outbox (``own``: one of its connections; ``schema``; ``shown``: its URL without the
    password) cannot be written on ``other`` — None when it can.

    ``other`` must be a psycopg 3 connection to the **same database of the same server**: proved,
    not inferred from URLs (``localhost`` and ``127.0.0.1``, a pooler, a DNS alias all name one
    server differently), by an advisory lock the outbox's connection takes and ``other`` then
    finds taken (advisory locks are per database). And its role must be allowed what the outbox's
    writes do: ``USAGE`` on the schema, ``SELECT, INSERT, UPDATE, DELETE`` on the outbox's and the
    journal's tables (``outbox*``, ``intake_*``: no others of the schema), ``USAGE`` on their
    sequences. ``other`` is left in a transaction its owner rolls back.
    """
    import psycopg  # an outbox on PostgreSQL has it

    if not isinstance(other, psycopg.Connection):
        kind = f"{type(other).__module__}.{type(other).__name__}"
        return f"the legacy connection is a {kind}, not psycopg 3's (use postgresql+psycopg://)"
    key = secrets.randbits(63)
    own.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        (free,) = other.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()
    finally:
        own.execute("SELECT pg_advisory_unlock(%s)", (key,))
    if free:
        return f"the legacy database is not the one that holds the outbox ({shown})"
    (namespace,) = other.execute(
        "SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = %s", (schema,)
    ).fetchone() or (None,)
    if not namespace:
        return f"the legacy database role {_role(other)} has no USAGE on schema {schema}"
    missing = other.execute(
        _MISSING_GRANTS,
        {"privileges": list(_PRIVILEGES), "schema": schema, "tables": _JOINED_TABLES},
    ).fetchall()
    if missing:
        shown_missing = ", ".join(f"{what} on {schema}.{table}" for table, what in missing[:6])
        more = f" (and {len(missing) - 6} more)" if len(missing) > 6 else ""
        return f"the legacy database role {_role(other)} lacks {shown_missing}{more}"
    return None


def _role(conn: Any) -> str:
    return str(conn.execute("SELECT current_user").fetchone()[0])


def enter(conn: Any, schema: str, synchronous: str, lock_timeout_ms: int) -> str:
    """Prepare ``conn``'s transaction for the outbox's writes (its tables first on the search
    path, its durability, its lock timeout; all ``LOCAL``: they end with the transaction) and
    return the search path to put back afterwards (:func:`leave`)."""
    (previous,) = conn.execute("SELECT current_setting('search_path')").fetchone()
    conn.execute(
        "SELECT set_config('search_path', %s, true), set_config('synchronous_commit', %s, true),"
        " set_config('lock_timeout', %s, true)",
        (schema, synchronous, f"{lock_timeout_ms}ms"),
    )
    return str(previous)


def leave(conn: Any, search_path: str) -> None:
    """Give the rest of ``conn``'s transaction its own search path back (unless it failed: it
    is rolled back then, settings and all)."""
    from psycopg.pq import TransactionStatus

    if (
        not conn.closed
        and not conn.broken
        and conn.info.transaction_status == TransactionStatus.INTRANS
    ):
        conn.execute("SELECT set_config('search_path', %s, true)", (search_path,))
