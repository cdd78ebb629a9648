"""Whether an outbox exists at a location, found without creating anything.

``Outbox(location)`` creates what it is given (a file, a schema and its tables): right for the
processes that write the outbox, wrong for one that only watches it. The gateway's ``/metrics``
gauges ask here first, so a mistyped ``--outbox`` file or ``?schema=`` shows as an outbox that is
not there (``govconnect_outbox_up 0``) instead of an empty one created on the spot.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..._exceptions import ConfigurationError
from .store import is_postgres_url

__all__ = ["outbox_exists"]

_MARK = "outbox_meta"
"""The table every outbox has on either engine, created with it."""


def outbox_exists(location: str | os.PathLike[str], *, timeout: float = 5.0) -> bool:
    """Whether ``location`` (a SQLite file, a PostgreSQL URL) holds an outbox: the file, or the
    URL's schema, with the outbox's tables. Nothing is created or written either way; a store
    that cannot be read (a server down, a file that is not a database) raises
    :class:`ConfigurationError` naming it, the password left out."""
    if is_postgres_url(location):
        return _in_postgres(str(location), timeout)
    path = Path(location)
    if not path.is_file():
        return False
    try:  # mode=rw: never creates the file (the default mode would)
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=timeout)
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (_MARK,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ConfigurationError(
            f"cannot read the outbox at {path}: {exc} (sqlite3.{type(exc).__name__})"
        ) from None
    return found is not None


def _in_postgres(url: str, timeout: float) -> bool:
    import psycopg  # a PostgreSQL location needs the extra, as Outbox(url) does

    from .pg_schema import parse_url

    where = parse_url(url)
    try:
        with psycopg.connect(
            where.conninfo, autocommit=True, connect_timeout=max(1, int(timeout))
        ) as conn:
            row = conn.execute("SELECT to_regclass(%s)", (f"{where.schema}.{_MARK}",)).fetchone()
    except psycopg.Error as exc:
        reason = str(exc).replace(where.conninfo, where.display).strip() or type(exc).__name__
        raise ConfigurationError(
            f"cannot read the outbox at {where.display}: {reason.splitlines()[0]}"
        ) from None
    return row is not None and row[0] is not None
