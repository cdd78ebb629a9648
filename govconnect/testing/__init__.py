"""Test support shipped with govconnect: the mock exchange platform, a pytest plugin, conformance kit."""

from __future__ import annotations

__all__: list[str] = []
