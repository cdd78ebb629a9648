"""Household-registration (户籍) connector: a legacy SQL system exposed as catalogued services.

Registered with govconnect through the ``govconnect`` entry-point group; the module itself is the
plugin (its ``@hookimpl`` functions are below).
"""

from __future__ import annotations

import typer

from govconnect import hookimpl

from .connector import HouseholdConnector, Resident, ResidentQuery
from .sample import create_sample_database, process_applications, sample_cases, sample_residents

__all__ = [
    "HouseholdConnector",
    "Resident",
    "ResidentQuery",
    "create_sample_database",
    "process_applications",
    "sample_cases",
    "sample_residents",
]


@hookimpl
def register_connectors() -> list[type[HouseholdConnector]]:
    return [HouseholdConnector]


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    from .cli import household_app

    cli.add_typer(household_app, name="household")
