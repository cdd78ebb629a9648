"""The PostgreSQL outbox's tables (in a schema of their own, ``govconnect`` by default), its URL
(which schema; the password never shown) and its creation, safe when many processes start at once.

The tables mirror the SQLite file's (see ``schema``), with two additions that only a shared engine
needs: ``outbox_targets``, one row per target (operation + resource code or case id) that claims
lock with ``FOR UPDATE SKIP LOCKED`` and enqueues lock plainly, so each target's rows are claimed
by one worker at a time and committed in id order; and the ``outbox_fence`` sequence, the fencing
token every claim stamps on its batches.

``SCHEMA_VERSION`` counts the schema's changes; :func:`migrate_sql` brings an older one up:
version 2 added ``outbox_notices`` (every correction notice id ever queued) and the index of
dead letters by key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..._exceptions import ConfigurationError
from .portable import ddl
from .schema import BACKFILL_NOTICES, NOTICES_TABLE

__all__ = [
    "SCHEMA_VERSION",
    "PostgresLocation",
    "create_schema_sql",
    "import_psycopg",
    "migrate_sql",
    "parse_url",
]

SCHEMA_VERSION = "2"

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")


@dataclass(frozen=True, slots=True)
class PostgresLocation:
    """Where a PostgreSQL outbox lives: ``conninfo`` for psycopg (may hold a password: never
    print it), ``display`` (the same without the password, for messages and logs), ``schema``."""

    conninfo: str
    display: str
    schema: str

    @property
    def channel(self) -> str:
        """The ``LISTEN/NOTIFY`` channel idle workers wait on (one per schema)."""
        return f"{self.schema}_outbox"


def import_psycopg(store: str) -> Any:
    """psycopg 3, or a :class:`ConfigurationError` naming the extra that brings it; ``store``
    says what needed it ("a PostgreSQL outbox", "an audit log on PostgreSQL")."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - the extra is installed in development
        raise ConfigurationError(
            f"{store} needs psycopg 3: pip install 'govconnect[postgres]'"
        ) from None
    return psycopg


def parse_url(url: str, schema: str | None = None) -> PostgresLocation:
    """Split ``postgresql://user:pw@host:port/db?schema=name`` into what psycopg takes, what may be
    shown, and the schema (``schema=`` wins over the URL's, default ``govconnect``)."""
    try:
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        port = parts.port
    except ValueError as exc:
        raise ConfigurationError(f"not a PostgreSQL URL: {redact(url)} ({exc})") from None
    from_url = [value for key, value in query if key == "schema"]
    schema = schema or (from_url[-1] if from_url else "govconnect")
    if not _IDENTIFIER.match(schema):
        raise ConfigurationError(
            f"outbox schema must be a lower-case SQL identifier (letters, digits, _), not {schema!r}"
        )
    kept = urlencode([(k, v) for k, v in query if k != "schema"])
    userinfo, at, hostport = parts.netloc.rpartition("@")
    shown = f"{userinfo.split(':', 1)[0]}{at}{hostport}"  # the user, never the password
    del port  # parsed only to refuse a malformed port here, naming the URL
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, kept, ""))
    shown_query = urlencode([*[(k, v) for k, v in query if k != "schema"], ("schema", schema)])
    display = urlunsplit(("postgresql", shown, parts.path, shown_query, ""))
    return PostgresLocation(conninfo, display, schema)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for an error about an unparsable URL)."""
    return re.sub(r"(://[^/:@]*):[^@/]*@", r"\1:***@", url)


def create_schema_sql(schema: str) -> str:
    """Every statement that creates the outbox in ``schema`` (idempotent), run under an advisory
    lock by :class:`~.postgres.PostgresOutbox` so processes starting together do not race."""
    return f"""
CREATE SCHEMA IF NOT EXISTS {schema};
SET LOCAL search_path TO {schema};
CREATE TABLE IF NOT EXISTS outbox_meta (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    id         bigserial PRIMARY KEY,
    operation  text NOT NULL,
    target     text NOT NULL,
    user_id    text,
    case_id    text,
    records    integer NOT NULL,
    created_at double precision NOT NULL,
    batch_key  text,
    payload    bytea NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_target ON outbox (operation, target, id);
CREATE TABLE IF NOT EXISTS outbox_targets (
    operation text NOT NULL,
    target    text NOT NULL,
    PRIMARY KEY (operation, target)
);
CREATE SEQUENCE IF NOT EXISTS outbox_fence;
CREATE TABLE IF NOT EXISTS outbox_batches (
    key             text PRIMARY KEY,
    operation       text NOT NULL,
    target          text NOT NULL,
    first_id        bigint NOT NULL,
    last_id         bigint NOT NULL,
    user_id         text,
    case_id         text,
    records         integer NOT NULL,
    row_count       integer NOT NULL,
    created_at      double precision NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at double precision NOT NULL,
    lease_owner     text,
    lease_until     double precision,
    fence           bigint NOT NULL DEFAULT 0,
    last_error      text
);
CREATE INDEX IF NOT EXISTS outbox_batches_by_target ON outbox_batches (operation, target, first_id);
CREATE TABLE IF NOT EXISTS outbox_delivered (
    batch_key    text PRIMARY KEY,
    operation    text NOT NULL,
    target       text NOT NULL,
    records      integer NOT NULL,
    first_id     bigint NOT NULL,
    last_id      bigint NOT NULL,
    attempts     integer NOT NULL,
    duplicate    integer NOT NULL,
    delivered_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_delivered_at ON outbox_delivered (delivered_at);
CREATE TABLE IF NOT EXISTS outbox_dead (
    id         bigserial PRIMARY KEY,
    batch_key  text NOT NULL,
    operation  text NOT NULL,
    target     text NOT NULL,
    user_id    text,
    case_id    text,
    records    integer NOT NULL,
    entries    bytea NOT NULL,
    attempts   integer NOT NULL,
    dead_at    double precision NOT NULL,
    reason     text NOT NULL,
    problems   text NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_dead_by_key ON outbox_dead (batch_key);
{_notices_table()};
INSERT INTO outbox_meta VALUES ('uid', md5(random()::text)) ON CONFLICT DO NOTHING;
INSERT INTO outbox_meta VALUES ('schema_version', '{SCHEMA_VERSION}') ON CONFLICT DO NOTHING;
"""


def _notices_table() -> str:
    # the file's table with PostgreSQL's spellings: 8-byte times (``REAL`` is 4 bytes there)
    return ddl(False, NOTICES_TABLE).replace("REAL", "double precision")


def migrate_sql(schema: str) -> str:
    """The statements that bring the outbox in ``schema`` from an older version (there is one
    so far: 1) up to :data:`SCHEMA_VERSION`, run in one transaction under the same advisory lock
    as creation. 1 → 2: ``outbox_notices`` created holding the correction notices the outbox
    already knows (waiting, in flight, delivered and not purged, dead); dead letters indexed by
    key."""
    return f"""
SET LOCAL search_path TO {schema};
CREATE INDEX IF NOT EXISTS outbox_dead_by_key ON outbox_dead (batch_key);
{_notices_table()};
{BACKFILL_NOTICES};
UPDATE outbox_meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version';
"""
