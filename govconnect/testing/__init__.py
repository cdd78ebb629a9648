"""Test support shipped with govconnect: the mock exchange platform, a pytest plugin, conformance kit."""

from __future__ import annotations

from ._mock_app import FAULT_PROFILES, Faults
from ._mock_platform import DEFAULT_NODE, MockPlatform

__all__ = ["DEFAULT_NODE", "FAULT_PROFILES", "Faults", "MockPlatform"]
