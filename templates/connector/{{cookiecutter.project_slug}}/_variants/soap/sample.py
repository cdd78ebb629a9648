"""A sample of the legacy WebService: the answers it gives, served by govconnect's SOAP fake.

:func:`sample_answers` answers ``QueryPerson`` from the sample people and takes applications once
per application number, as the real system does. The conformance kit runs against
:func:`sample_legacy_system`; the tests start the same fake with the ``soap_legacy_factory``
fixture of govconnect's pytest plugin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .connector import WSDL
from .sample_data import sample_people

__all__ = ["SAMPLE_PASSWORD", "SAMPLE_USER", "sample_answers", "sample_legacy_system"]

SAMPLE_USER = "sample"
SAMPLE_PASSWORD = "sample-password"
"""Credentials of the fake only; the real ones come from the environment, never from code."""


def sample_answers() -> dict[str, Any]:
    """Answers per operation, for :class:`govconnect.testing.SoapLegacyFake`."""
    people = sample_people()
    applications: dict[str, str] = {}

    def query_person(request: dict[str, Any]) -> dict[str, Any]:
        return {"person": [p for p in people if p["sfzh"] == request.get("sfzh")]}

    def submit_application(request: dict[str, Any]) -> dict[str, Any]:
        duplicate = request["sqbh"] in applications
        reference = applications.setdefault(request["sqbh"], f"SQ-{len(applications) + 1:06d}")
        return {"reference": reference, "duplicate": duplicate}

    return {"QueryPerson": query_person, "SubmitApplication": submit_application}


def sample_legacy_system(folder: Path) -> Iterator[dict[str, str]]:
    """The SOAP fake on loopback while the conformance checks run; yields connector settings."""
    from govconnect.testing import SoapLegacyFake

    fake = SoapLegacyFake(
        WSDL, sample_answers(), username=SAMPLE_USER, password=SAMPLE_PASSWORD
    ).start()
    try:
        yield {"endpoint": fake.url, "username": SAMPLE_USER, "password": SAMPLE_PASSWORD}
    finally:
        fake.stop()
