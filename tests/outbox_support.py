"""Helpers shared by the outbox and delivery tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from govconnect import Outbox
from govconnect.testing._databases import database_url, unique_name


def one_per_row(outbox: Outbox, code: str, records: list[Any], **trace: Any) -> None:
    """Each record in a row of its own, as small enqueues make them: rows without a key of their
    own, which a claim combines up to its batch_size."""
    for record in records:
        outbox.enqueue(code, [record], **trace)


ENGINES = ["sqlite", "postgresql"]
"""The outbox engines the engine-agnostic tests run against (one parametrised fixture)."""


@contextmanager
def outbox_location(engine: str, tmp_path: Path) -> Iterator[str]:
    """Where a fresh outbox of ``engine`` lives: a file under ``tmp_path``, or a PostgreSQL URL
    with a schema of its own (other engineers' runs share the server), dropped afterwards.
    PostgreSQL skips when the server is absent (fails in CI: GOVCONNECT_REQUIRE_SERVICES=1)."""
    if engine == "sqlite":
        yield str(tmp_path / "outbox.sqlite")
        return
    url = database_url("postgresql", tmp_path)
    schema = unique_name("gc_outbox")
    try:
        yield f"{url}?schema={schema}"
    finally:
        import psycopg

        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@contextmanager
def engine_outbox(request: pytest.FixtureRequest, tmp_path: Path, **kw: Any) -> Iterator[Outbox]:
    """An open outbox of the engine ``request.param``; a test marked ``sqlite_only`` (it looks
    inside the SQLite file) is skipped on the other engines."""
    engine = request.param
    if engine != "sqlite" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("looks inside the SQLite file")
    with outbox_location(engine, tmp_path) as location, Outbox(location, **kw) as box:
        yield box
