"""Test support shipped with govconnect: the mock exchange platform, the mock identity center (an
OIDC issuer), a pytest plugin, the conformance kit."""

from __future__ import annotations

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
from ._mock_identity import JWKS_FAULTS, MockIdentityCenter
from ._mock_platform import DEFAULT_NODE, MockPlatform

__all__ = [
    "CHECKS",
    "DEFAULT_NODE",
    "FAULT_PROFILES",
    "JWKS_FAULTS",
    "Check",
    "CheckResult",
    "Conformance",
    "ConformanceSession",
    "Faults",
    "MockIdentityCenter",
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
