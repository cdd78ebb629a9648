"""Real databases for tests: SQLite always, PostgreSQL and MariaDB when their servers answer.

A test that needs a server skips with the reason when it is absent — except when
``GOVCONNECT_REQUIRE_SERVICES=1`` (CI), where an absent server fails the test instead, so a green CI
run always means the SQL code ran against every backend.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

__all__ = ["SERVER_URLS", "database_url", "require_services", "unique_name"]

SERVER_URLS = {
    "postgresql": os.environ.get(
        "GOVCONNECT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "GOVCONNECT_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
_PORTS = {"postgresql": 5432, "mariadb": 3306}


def require_services() -> bool:
    return os.environ.get("GOVCONNECT_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def _reachable(backend: str) -> bool:
    from sqlalchemy.engine import make_url

    url = make_url(SERVER_URLS[backend])
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or _PORTS[backend]), 1.0):
            return True
    except OSError:
        return False


def database_url(backend: str, tmp_path: Path) -> str:
    """A SQLAlchemy URL for ``backend`` (``sqlite``, ``postgresql`` or ``mariadb``), or skip."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'legacy.sqlite'}"
    if backend not in SERVER_URLS:
        raise ValueError(f"unknown backend {backend!r}")
    if not _reachable(backend):
        reason = f"{backend} server not reachable at {SERVER_URLS[backend]}"
        if require_services():
            pytest.fail(f"{reason} (GOVCONNECT_REQUIRE_SERVICES=1)")
        pytest.skip(reason)
    return SERVER_URLS[backend]


def unique_name(prefix: str) -> str:
    """A table name no concurrent test run will use."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"
