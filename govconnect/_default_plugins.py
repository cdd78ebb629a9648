"""Built-in behaviour, registered as a plugin like any other (so the hooks are used by our own code)."""

from __future__ import annotations

from collections.abc import Mapping

from .catalog.codetables import NATIONAL_CODE_TABLES, CodeTable
from .discovery.detectors import BUILTIN_DETECTORS, Detector
from .discovery.dictionary import BUILTIN_TERMS, Term
from .hookspecs import hookimpl


@hookimpl
def register_code_tables() -> list[CodeTable]:
    return list(NATIONAL_CODE_TABLES)


@hookimpl
def discovery_dictionary() -> Mapping[str, Term]:
    return BUILTIN_TERMS


@hookimpl
def register_detectors() -> list[Detector]:
    return list(BUILTIN_DETECTORS)
