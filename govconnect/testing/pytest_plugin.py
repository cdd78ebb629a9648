"""pytest plugin (entry point ``pytest11``): fixtures for connector authors.

``mock_platform`` gives each test a fresh :class:`MockPlatform` on loopback with no faults; a test
that wants a hostile platform says so while it runs::

    def test_survives_throttling(mock_platform):
        mock_platform.set_faults("flaky", retry_after=0.01)
        ...

``mock_platform_factory`` starts more (or differently configured) platforms, all stopped at the end.

``soap_legacy_factory`` starts SOAP legacy fakes (:class:`SoapLegacyFake`: a WSDL, sample answers,
fault injection, UsernameToken checks) on loopback, all stopped at the end.

``mock_identity`` gives a test a running mock authentication center (an OIDC issuer on
loopback, see :class:`~govconnect.testing.MockIdentityCenter`); it needs ``govconnect[oidc]``
and skips the test without it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._legacy_http import fake_legacy_http
from ._mock_identity import MockIdentityCenter
from ._mock_platform import MockPlatform

if TYPE_CHECKING:
    import responses

    from ._soap_fake import SoapLegacyFake

__all__ = [
    "legacy_http",
    "mock_identity",
    "mock_platform",
    "mock_platform_factory",
    "soap_legacy_factory",
]


@pytest.fixture
def mock_platform_factory() -> Iterator[Callable[..., MockPlatform]]:
    """Start mock platforms with any ``MockPlatform`` arguments; each is stopped after the test."""
    started: list[MockPlatform] = []

    def start(**kwargs: Any) -> MockPlatform:
        platform = MockPlatform(**kwargs).start()
        started.append(platform)
        return platform

    yield start
    for platform in started:
        platform.stop()


@pytest.fixture
def mock_platform(mock_platform_factory: Callable[..., MockPlatform]) -> MockPlatform:
    """A running mock exchange platform (no faults, seed 0) for this test."""
    return mock_platform_factory(seed=0)


@pytest.fixture
def mock_identity() -> Iterator[MockIdentityCenter]:
    """A running mock authentication center for this test, stopped after it."""
    pytest.importorskip("jwt", reason="the mock identity center needs govconnect[oidc]")
    with MockIdentityCenter() as center:
        yield center


@pytest.fixture
def legacy_http() -> Iterator[responses.RequestsMock]:
    """A ``responses`` mock standing in for a legacy system reached with ``requests``.

    Register the legacy system's answers on it (``legacy_http.get(url, json=...)``); any request to
    a URL nobody registered raises ``ConnectionError``, so a test never reaches a real system.
    """
    with fake_legacy_http() as mock:
        yield mock


@pytest.fixture
def soap_legacy_factory() -> Iterator[Callable[..., SoapLegacyFake]]:
    """Start SOAP legacy fakes: ``soap_legacy_factory(wsdl, answers, username=…, password=…)``.

    Each is a real HTTP server on 127.0.0.1 serving the WSDL at ``fake.wsdl_url``; every one is
    stopped after the test. Needs lxml (``govconnect[soap]``).
    """
    from ._soap_fake import SoapLegacyFake

    started: list[SoapLegacyFake] = []

    def start(wsdl: Any, answers: Any, **kwargs: Any) -> SoapLegacyFake:
        fake = SoapLegacyFake(wsdl, answers, **kwargs).start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()
