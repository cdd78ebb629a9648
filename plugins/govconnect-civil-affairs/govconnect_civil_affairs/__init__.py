"""govconnect plugin for the social-assistance case system (社会救助案件管理系统) of a civil-affairs
bureau: a legacy system with no API, whose only interface is a drop folder of fixed-width GB18030
files (layout in :mod:`.layout`).

Generated with ``govconnect new connector`` (file-drop backend) and then filled in. Found by
govconnect through the ``govconnect`` entry-point group; the module itself is the plugin.
``conformance`` tells the conformance kit how to check the connector: the tests run it
(tests/test_conformance.py), and so does ``govconnect check civil_affairs``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from govconnect import CodeTable, hookimpl
from govconnect.testing import Conformance

from .connector import AssistanceCase, CaseQuery, CasesParams, CivilAffairsConnector
from .layout import CATEGORY_TABLE, LAYOUT, RECORD_BYTES
from .sample import (
    APPLY_MATTER,
    SAMPLE_CITIZEN_ID,
    sample_applications,
    sample_cases,
    sample_legacy_system,
    write_sample_drop,
    yuan_to_fen,
)

__all__ = [
    "APPLY_MATTER",
    "LAYOUT",
    "RECORD_BYTES",
    "AssistanceCase",
    "CaseQuery",
    "CasesParams",
    "CivilAffairsConnector",
    "conformance",
    "sample_applications",
    "sample_cases",
    "write_sample_drop",
]

conformance = Conformance(
    CivilAffairsConnector,
    sample_params={"assistance": {"citizen_id": SAMPLE_CITIZEN_ID}},
    sample_cases={APPLY_MATTER: next(sample_applications(1))},
    legacy=sample_legacy_system,
)


@hookimpl
def register_connectors() -> list[type[CivilAffairsConnector]]:
    return [CivilAffairsConnector]


@hookimpl
def register_code_tables() -> list[CodeTable]:
    return [CATEGORY_TABLE]


@hookimpl
def register_transforms() -> dict[str, Callable[..., Any]]:
    return {"yuan_to_fen": yuan_to_fen}


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    from .cli import civil_affairs_app

    cli.add_typer(civil_affairs_app, name="civil-affairs")
