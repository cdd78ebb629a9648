"""govconnect plugin for a department's legacy system.

社会救助案件管理系统 (SHJZ) of 北京市朝阳区民政局 (11010500MZ).

Found by govconnect through the ``govconnect`` entry-point group (see pyproject.toml); the module
itself is the plugin. ``conformance`` tells the conformance kit how to check the connector: the
tests run it (tests/test_conformance.py), and so does ``govconnect check`` on the command line.
"""

from __future__ import annotations

from govconnect import hookimpl
from govconnect.testing import Conformance

from .connector import CivilAffairsConnector, Person, PersonQuery
from .sample import SAMPLE_CITIZEN_ID, sample_legacy_system

__all__ = ["CivilAffairsConnector", "Person", "PersonQuery", "conformance"]

conformance = Conformance(
    CivilAffairsConnector,
    sample_params={"person": {"citizen_id": SAMPLE_CITIZEN_ID}},
    legacy=sample_legacy_system,
)


@hookimpl
def register_connectors() -> list[type[CivilAffairsConnector]]:
    return [CivilAffairsConnector]
