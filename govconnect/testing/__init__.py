"""Test support shipped with govconnect: the mock exchange platform, a pytest plugin, conformance kit."""

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
from ._legacy_schema import LEGACY_TABLES, ColumnSpec, LegacySchema, TableSpec, legacy_schema
from ._mock_app import FAULT_PROFILES, Faults
from ._mock_platform import DEFAULT_NODE, MockPlatform
from ._synthetic import SYNTHETIC_KINDS, synthetic_value

__all__ = [
    "CHECKS",
    "DEFAULT_NODE",
    "FAULT_PROFILES",
    "LEGACY_TABLES",
    "SYNTHETIC_KINDS",
    "Check",
    "CheckResult",
    "ColumnSpec",
    "Conformance",
    "ConformanceSession",
    "Faults",
    "LegacySchema",
    "MockPlatform",
    "Outcome",
    "TableSpec",
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
