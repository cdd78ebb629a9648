"""pytest plugin (entry point ``pytest11``): fixtures for connector authors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ._legacy_http import fake_legacy_http

if TYPE_CHECKING:
    import responses


@pytest.fixture
def legacy_http() -> Iterator[responses.RequestsMock]:
    """A ``responses`` mock standing in for a legacy system reached with ``requests``.

    Register the legacy system's answers on it (``legacy_http.get(url, json=...)``); any request to
    a URL nobody registered raises ``ConnectionError``, so a test never reaches a real system.
    """
    with fake_legacy_http() as mock:
        yield mock
