"""Configuration: one TOML file (``govconnect.toml``) plus environment variables.

The file is found at ``--config``, else ``$GOVCONNECT_CONFIG``, else ``./govconnect.toml``; without
one, embedded defaults apply (SQLite files under ``.govconnect/``, the mock platform on loopback).
Secrets (platform tokens, database passwords) belong in environment variables, never in the file
that is committed next to a plugin.

A connector setting comes from, strongest first: the environment (``GOVCONNECT_<CONNECTOR>_<SETTING>``),
the file (``[connectors.<connector>]``), the connector's default. That is the twelve-factor order: the
file is what is committed, the environment is what a deployment changes. A setting is *secret* when
its type is ``SecretStr``/``SecretBytes`` or its field says ``json_schema_extra={"secret": True}``;
secrets are never shown, and any URL's password is masked wherever a setting is shown.
"""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic.fields import FieldInfo

from ._exceptions import ConfigurationError

__all__ = [
    "Config",
    "EffectiveSetting",
    "effective_settings",
    "env_name",
    "is_configured",
    "is_secret",
    "load_config",
    "mask_url_passwords",
    "url_passwords",
]

DEFAULT_FILE = "govconnect.toml"
MASK = "********"

Source = Literal["default", "file", "env"]

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]*)@")


class Config(dict[str, Any]):
    """The parsed configuration: a nested mapping with a few typed accessors.

    ``path`` is the file it was read from (None for embedded defaults or a mapping built in code),
    so ``config show`` can say where a value came from.
    """

    path: Path | None = None

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
            config = Config(tomllib.load(fh))
            config.path = candidate
            return config
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"config file {str(candidate)!r} is not valid TOML: {exc}"
        ) from None


def env_name(connector: str, setting: str) -> str:
    """The environment variable that sets ``setting`` of ``connector``."""
    return f"GOVCONNECT_{connector.upper()}_{setting.upper()}"


def is_secret(info: FieldInfo) -> bool:
    """Whether a settings field holds a secret: a ``SecretStr``/``SecretBytes`` type (also inside
    ``Optional``) or the field marker ``json_schema_extra={"secret": True}``."""
    extra = info.json_schema_extra
    if isinstance(extra, Mapping) and extra.get("secret") is True:
        return True
    pending: list[Any] = [info.annotation]
    while pending:
        tp = pending.pop()
        if isinstance(tp, type) and issubclass(tp, (SecretStr, SecretBytes)):
            return True
        pending.extend(typing.get_args(tp))
    return False


def url_passwords(text: str) -> list[str]:
    """The passwords written into URLs inside ``text`` (to scrub them from anything printed)."""
    return [m.group("password") for m in _URL_PASSWORD.finditer(text) if m.group("password")]


def mask_url_passwords(text: str) -> str:
    """``postgresql://hj:pw@db/hj`` → ``postgresql://hj:********@db/hj``, anywhere in ``text``."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", text)


@dataclass(frozen=True)
class EffectiveSetting:
    """One connector setting as it will be used: its value, where it came from, whether secret."""

    name: str
    value: Any
    source: Source
    secret: bool
    env: str

    @property
    def shown(self) -> Any:
        """The value as it may be printed: secrets masked, passwords in URLs masked."""
        if self.secret:
            return None if self.value is None else MASK
        if isinstance(self.value, SecretStr | SecretBytes):
            return MASK
        if isinstance(self.value, str):
            return mask_url_passwords(self.value)
        if isinstance(self.value, Path):
            return str(self.value)
        return self.value


def effective_settings(
    connector: str,
    model: type[BaseModel],
    config: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> list[EffectiveSetting]:
    """Every declared setting of a connector with its value and source: env > file > default.

    Values are the raw ones (strings from the environment); the connector's settings model
    converts and validates them. Keys in the file that the model does not declare are kept with
    source ``file`` so that validation names them.
    """
    env = os.environ if environ is None else environ
    section = Config(config).section("connectors", connector)
    found: list[EffectiveSetting] = []
    for name, info in model.model_fields.items():
        variable = env_name(connector, name)
        secret = is_secret(info)
        if variable in env:
            found.append(EffectiveSetting(name, env[variable], "env", secret, variable))
        elif name in section:
            found.append(EffectiveSetting(name, section[name], "file", secret, variable))
        else:
            default = None if info.is_required() else info.get_default(call_default_factory=True)
            found.append(EffectiveSetting(name, default, "default", secret, variable))
    for name, value in section.items():
        if name not in model.model_fields:
            found.append(EffectiveSetting(name, value, "file", False, env_name(connector, name)))
    return found


def is_configured(
    connector: str,
    model: type[BaseModel],
    config: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> bool:
    """Whether someone configured this connector: a ``[connectors.<name>]`` section in the file
    (an empty one means "use the defaults"), or any of its settings in the environment. A
    connector without settings needs no configuration. An installed plugin whose connector nobody
    configured must not run on its defaults: they point at a legacy system that is not there."""
    if not model.model_fields:
        return True
    connectors = Config(config).section("connectors")
    if connector in connectors:
        return True
    env = os.environ if environ is None else environ
    return any(env_name(connector, name) in env for name in model.model_fields)
