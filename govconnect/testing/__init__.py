"""Test support shipped with govconnect: the mock exchange platform, the mock identity center (an
OIDC issuer), a pytest plugin, the conformance kit.

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
from ._legacy_schema import LEGACY_TABLES, ColumnSpec, LegacySchema, TableSpec, legacy_schema
from ._mock_identity import JWKS_FAULTS, MockIdentityCenter
from ._mock_intake import MOCK_WINDOW_ISSUER, applicant_auth
from ._mock_platform import DEFAULT_NODE, MockPlatform
from ._mock_state import FAULT_PROFILES, Faults
from ._synthetic import SYNTHETIC_KINDS, synthetic_value

__all__ = [
    "CHECKS",
    "DEFAULT_NODE",
    "FAULT_PROFILES",
    "JWKS_FAULTS",
    "LEGACY_TABLES",
    "MOCK_WINDOW_ISSUER",
    "SYNTHETIC_KINDS",
    "Check",
    "CheckResult",
    "ColumnSpec",
    "Conformance",
    "ConformanceSession",
    "Faults",
    "LegacySchema",
    "MockIdentityCenter",
    "MockPlatform",
    "Outcome",
    "TableSpec",
    "applicant_auth",
    "check",
    "conformance_tests",
    "failed",
    "fake_legacy_http",
    "legacy_schema",
    "passed",
    "run_conformance",
    "skipped",
    "synthetic_value",
]

_SOAP_FAKE = frozenset({"FakeFault", "SoapCall", "SoapLegacyFake"})


def __getattr__(name: str) -> Any:
    if name in _SOAP_FAKE:
        from . import _soap_fake

        return getattr(_soap_fake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
