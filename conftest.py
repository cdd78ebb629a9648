"""Fixtures shared by the SDK's tests and the plugins' tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from govconnect.testing._databases import database_url


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A real database for each backend; server backends skip (or fail in CI) when absent."""
    return database_url(request.param, tmp_path)
