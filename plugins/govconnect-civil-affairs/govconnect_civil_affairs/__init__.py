"""govconnect plugin for the social-assistance case system (社会救助案件管理系统) of a civil-affairs
bureau: a legacy system with no API, whose only interface is a drop folder of fixed-width GB18030
files (layout in :mod:`.layout`).

Generated with ``govconnect new connector`` (file-drop backend) and then filled in. Found by
govconnect through the ``govconnect`` entry-point group; the module itself is the plugin.
``conformance`` tells the conformance kit how to check the connector: the tests run it
(tests/test_conformance.py), and so does ``govconnect check civil_affairs``.
"""

from __future__ import annotations

import typer
from govconnect import hookimpl
from govconnect.testing import Conformance

from .connector import AssistanceCase, CaseQuery, CasesParams, CivilAffairsConnector
from .layout import LAYOUT, RECORD_BYTES
from .sample import SAMPLE_CITIZEN_ID, sample_cases, sample_legacy_system, write_sample_drop

__all__ = [
    "LAYOUT",
    "RECORD_BYTES",
    "AssistanceCase",
    "CaseQuery",
    "CasesParams",
    "CivilAffairsConnector",
    "conformance",
    "sample_cases",
    "write_sample_drop",
]

conformance = Conformance(
    CivilAffairsConnector,
    sample_params={"assistance": {"citizen_id": SAMPLE_CITIZEN_ID}},
    legacy=sample_legacy_system,
)


@hookimpl
def register_connectors() -> list[type[CivilAffairsConnector]]:
    return [CivilAffairsConnector]


@hookimpl
def register_commands(cli: typer.Typer) -> None:
    from .cli import civil_affairs_app

    cli.add_typer(civil_affairs_app, name="civil-affairs")
