"""Faking a legacy system that is reached over HTTP, for connectors built on a vendor's client.

Many departments reach their legacy system through a vendor's client library built on
``requests``. :func:`fake_legacy_http` (and the ``legacy_http`` pytest fixture built on it) activates
a :class:`responses.RequestsMock`, so a test registers the answers the legacy system would give and
the vendor's client runs unchanged::

    def test_lookup(legacy_http):
        legacy_http.get("http://legacy.example/api/people/11010519491231002X",
                        json={"sfzh": "11010519491231002X", "xm": "张三"})
        assert client.person("11010519491231002X")["xm"] == "张三"

Clients built on httpx need no patching at all: give them an ``httpx.Client`` whose transport is
``httpx.MockTransport(handler)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .._exceptions import ConfigurationError

if TYPE_CHECKING:
    import responses

__all__ = ["fake_legacy_http"]


@contextmanager
def fake_legacy_http(*, assert_all_called: bool = False) -> Iterator[responses.RequestsMock]:
    """Intercept every ``requests`` call while the block runs; unregistered URLs fail loudly.

    ``assert_all_called`` makes leaving the block fail when a registered answer was never asked
    for — useful when a test means to prove the client called the legacy system.
    """
    try:
        import responses
    except ImportError:  # pragma: no cover - responses is a dev extra of govconnect
        raise ConfigurationError(
            "faking a requests-based legacy client needs the 'responses' package "
            "(pip install 'govconnect[dev]')"
        ) from None
    with responses.RequestsMock(assert_all_requests_are_fired=assert_all_called) as mock:
        yield mock
