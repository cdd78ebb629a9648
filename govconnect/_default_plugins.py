"""Built-in behaviour, registered as a plugin like any other (so the hooks are used by our own code)."""

from __future__ import annotations

from .catalog.codetables import NATIONAL_CODE_TABLES, CodeTable
from .hookspecs import hookimpl


@hookimpl
def register_code_tables() -> list[CodeTable]:
    return list(NATIONAL_CODE_TABLES)
