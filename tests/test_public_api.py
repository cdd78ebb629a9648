"""The public surface: an honest ``__all__``, typed package, documented hooks, one error root."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import govconnect
from govconnect import hookspecs

ROOT = Path(__file__).resolve().parents[1]


def test_all_is_unique_and_every_name_exists() -> None:
    assert len(set(govconnect.__all__)) == len(govconnect.__all__)  # order: ruff RUF022
    for name in govconnect.__all__:
        assert hasattr(govconnect, name), name


def test_every_public_name_is_exported() -> None:
    public = {
        name
        for name, value in vars(govconnect).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public <= set(govconnect.__all__)


def test_package_is_typed() -> None:
    assert (Path(govconnect.__file__).parent / "py.typed").exists()


def test_every_hook_is_documented() -> None:
    doc = (ROOT / "docs" / "plugin_hooks.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^## (\w+)$", doc, flags=re.M))
    specs = {
        name
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }
    assert specs, "no hook specifications found"
    assert specs == documented
    for name in specs:
        assert getattr(hookspecs, name).__doc__, f"hook {name} has no docstring"


def test_every_error_derives_from_one_root() -> None:
    errors = [
        value
        for value in vars(govconnect).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    ]
    assert errors
    assert all(issubclass(e, govconnect.GovConnectError) for e in errors)
