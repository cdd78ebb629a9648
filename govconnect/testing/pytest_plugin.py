"""pytest plugin (entry point ``pytest11``): fixtures for connector authors."""

from __future__ import annotations
