"""Shared fixtures. Fixtures that need a server skip when it is absent, except under
GOVCONNECT_REQUIRE_SERVICES=1 (CI), where an absent server fails the run."""

from __future__ import annotations
