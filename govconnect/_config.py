"""Configuration: one TOML file (``govconnect.toml``) plus environment variables.

The file is found at ``--config``, else ``$GOVCONNECT_CONFIG``, else ``./govconnect.toml``; without
one, embedded defaults apply (SQLite files under ``.govconnect/``, the mock platform on loopback).
Secrets (platform tokens, database passwords) belong in environment variables, never in the file
that is committed next to a plugin.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._exceptions import ConfigurationError

__all__ = ["Config", "load_config"]

DEFAULT_FILE = "govconnect.toml"


class Config(dict[str, Any]):
    """The parsed configuration: a nested mapping with a few typed accessors."""

    def section(self, *path: str) -> dict[str, Any]:
        node: Any = self
        for key in path:
            node = node.get(key, {}) if isinstance(node, Mapping) else {}
        return dict(node) if isinstance(node, Mapping) else {}

    def connector_settings(self, name: str) -> dict[str, Any]:
        return self.section("connectors", name)

    @property
    def state_dir(self) -> Path:
        """Where embedded state lives (outbox, audit log, bookmarks): ``[govconnect] state_dir``."""
        raw = os.environ.get("GOVCONNECT_STATE_DIR") or self.section("govconnect").get("state_dir")
        return Path(raw or ".govconnect")


def load_config(path: str | Path | None = None) -> Config:
    """Read the configuration file, or return an empty config when there is none."""
    explicit = path or os.environ.get("GOVCONNECT_CONFIG")
    candidate = Path(explicit) if explicit else Path(DEFAULT_FILE)
    if not candidate.exists():
        if explicit:
            raise ConfigurationError(f"config file {str(candidate)!r} does not exist")
        return Config()
    try:
        with candidate.open("rb") as fh:
            return Config(tomllib.load(fh))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"config file {str(candidate)!r} is not valid TOML: {exc}"
        ) from None
