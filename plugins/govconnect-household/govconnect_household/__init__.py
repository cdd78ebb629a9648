"""Household-registration (户籍) connector: a legacy SQL system exposed as catalogued services.

Registered with govconnect through the ``govconnect`` entry-point group; the module itself is the
plugin (its ``@hookimpl`` functions are below).
"""

from __future__ import annotations

import typer

from govconnect import hookimpl
from govconnect.testing import Conformance

from .connector import MOVE_IN_MATTER, HouseholdConnector, Resident, ResidentQuery
from .sample import (
    SAMPLE_CITIZEN_ID,
    create_sample_database,
    process_applications,
    sample_cases,
    sample_legacy_system,
    sample_residents,
)

__all__ = [
    "HouseholdConnector",
    "Resident",
    "ResidentQuery",
    "conformance",
    "create_sample_database",
    "process_applications",
    "sample_cases",
    "sample_residents",
]

conformance = Conformance(
    HouseholdConnector,
    sample_params={"resident": {"citizen_id": SAMPLE_CITIZEN_ID}},
    sample_cases={MOVE_IN_MATTER: next(sample_cases(1))},
    legacy=sample_legacy_system,
)
"""What the conformance kit needs: ``govconnect check household`` and tests/test_conformance.py."""


@hookimpl
def register_connectors() -> list[type[HouseholdConnector]]:
    return [HouseholdConnector]


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    from .cli import household_app

    cli.add_typer(household_app, name="household")
