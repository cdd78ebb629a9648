"""Test support shipped with govconnect: the mock exchange platform, a pytest plugin, conformance kit.

The SOAP legacy fake (``SoapLegacyFake``, ``FakeFault``, ``SoapCall``) is imported on first use:
it needs lxml (``govconnect[soap]``), which a core install does not have.
"""

from __future__ import annotations

from typing import Any

from ._conformance import (
    CHECKS,
    Check,
    CheckResult,
    Conformance,
    ConformanceSession,
    Outcome,
    check,
    conformance_tests,
    failed,
    passed,
    run_conformance,
    skipped,
)
from ._legacy_http import fake_legacy_http
from ._mock_app import FAULT_PROFILES, Faults
from ._mock_platform import DEFAULT_NODE, MockPlatform

__all__ = [
    "CHECKS",
    "DEFAULT_NODE",
    "FAULT_PROFILES",
    "Check",
    "CheckResult",
    "Conformance",
    "ConformanceSession",
    "Faults",
    "MockPlatform",
    "Outcome",
    "check",
    "conformance_tests",
    "failed",
    "fake_legacy_http",
    "passed",
    "run_conformance",
    "skipped",
]

_SOAP_FAKE = frozenset({"FakeFault", "SoapCall", "SoapLegacyFake"})


def __getattr__(name: str) -> Any:
    if name in _SOAP_FAKE:
        from . import _soap_fake

        return getattr(_soap_fake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
