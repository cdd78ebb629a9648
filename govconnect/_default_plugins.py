"""Built-in behaviour, registered as a plugin like any other (so the hooks are used by our own code)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .catalog.codetables import NATIONAL_CODE_TABLES, CodeTable
from .catalog.identity import upgrade_citizen_id
from .hookspecs import hookimpl


@hookimpl
def register_code_tables() -> list[CodeTable]:
    return list(NATIONAL_CODE_TABLES)


@hookimpl
def register_transforms() -> dict[str, Callable[..., Any]]:
    """``citizen_id_18``: a 15- or 18-digit citizen ID as its 18-digit form, for legacy targets
    that store 18 digits fed from forms (or old records) that still carry first-generation ones."""
    return {"citizen_id_18": upgrade_citizen_id}
