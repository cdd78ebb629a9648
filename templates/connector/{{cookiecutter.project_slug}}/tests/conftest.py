"""Fixtures of this connector's own tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from govconnect import Connector
from govconnect.testing import ConformanceSession

from {{ cookiecutter.__package_name }} import conformance


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[Connector]:
    """The connector on a fresh sample legacy system, set up as the conformance kit sets it up."""
    with ConformanceSession(conformance, tmp_path) as session:
        conn = session.connector()
        assert isinstance(conn, Connector), conn
        yield conn
