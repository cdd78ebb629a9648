"""The connector: {{ cookiecutter.system_name }}, a SOAP WebService described by ``legacy.wsdl``.

govconnect's SOAP client calls the operations (UsernameToken, retries, faults as errors, GB18030);
this module says only what a person must decide: which element is which record field, and which
case field goes into which element of the application message.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from govconnect import Connector, Const, Department, From, LegacySystem, intake, query
from govconnect.soap import SoapClient, SoapSecurity, SoapSink, soap_input
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from .records import Person, PersonQuery
from .sample_data import MATTER_CODE

__all__ = {{ (["WSDL"] + ([cookiecutter.__class_name, "Settings"] | sort(case_sensitive=True) | list)) | tojson }}

WSDL = Path(__file__).with_name("legacy.wsdl")
"""The vendor's WSDL, kept with the plugin so it loads without the network."""

PERSON_FIELDS = {"citizen_id": "sfzh", "name": "xm", "region_code": "xzqh", "registered_on": "djrq"}
"""Record field -> element of a ``Person`` in the WebService's answer."""


class Settings(BaseModel):
    """Connector settings: ``[connectors.{{ cookiecutter.connector_name }}]`` in govconnect.toml, or
    ``GOVCONNECT_{{ cookiecutter.connector_name.upper() }}_PASSWORD`` and the like in the
    environment (keep the password there)."""

    model_config = ConfigDict(extra="forbid")

    endpoint: str | None = Field(default=None, description="overrides the WSDL's soap:address")
    username: str | None = Field(default=None, description="WS-Security UsernameToken user")
    password: SecretStr | None = Field(default=None, description="sent as PasswordDigest only")
    timeout: float = Field(default=10.0, gt=0, description="seconds to wait for an answer")


{% include "connector_class.py.j2" %}

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        s = self.settings
        self.soap = SoapClient(
            WSDL,
            endpoint=s.endpoint,
            security=SoapSecurity(s.username, s.password),
            timeout=s.timeout,
        )

    def close(self) -> None:
        self.soap.close()

{% include "person_query.py.j2" %}
    def person(self, params: PersonQuery) -> Iterator[Person]:
        return self.soap.records(
            "QueryPerson",
            params,
            Person,
            rename={"citizen_id": "sfzh"},
            items="person",
            fields=PERSON_FIELDS,
        )

    @intake(
        matter_code=MATTER_CODE,
        name="申请受理",
        target=soap_input(WSDL, "SubmitApplication"),
        mapping={
            "sqbh": From("case_id"),
            "sfzh": From("applicant.citizen_id"),
            "xm": From("applicant.name"),
            "sqsj": From("submitted_at").date("%Y%m%d%H%M%S"),
            "ly": Const("一窗受理"),
        },
    )
    def application(self) -> SoapSink:
        """Applications from the one window are passed to the WebService, not re-typed."""
        return SoapSink(self.soap, "SubmitApplication")
