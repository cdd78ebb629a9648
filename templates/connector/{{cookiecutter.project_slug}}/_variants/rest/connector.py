"""The connector: {{ cookiecutter.system_name }}, reached through its vendor's HTTP client.

The connector maps what the vendor's client returns (legacy field names) onto classified records,
and passes applications from the one window to the legacy API through the same client. govconnect
builds the catalog entry, validates parameters and records, and serves and exchanges the data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from govconnect import (
    Connector,
    Const,
    Department,
    From,
    LegacySystem,
    RetryableError,
    SinkResult,
    intake,
    query,
)
from pydantic import BaseModel, ConfigDict, Field

from .client import LegacyClient, LegacySystemError
from .records import Person, PersonQuery
from .sample import APPLICATION_FIELDS
from .sample_data import MATTER_CODE

__all__ = {{ [cookiecutter.__class_name, "ApplicationSink", "Settings"] | sort(case_sensitive=True) | tojson }}


class ApplicationSink:
    """Passes applications to the legacy system through the vendor's client (参数传递).

    A govconnect sink: ``write`` is idempotent by case id (the legacy API honours the
    ``Idempotency-Key``), a legacy system that cannot be reached raises ``RetryableError`` so the
    intake bridge tries the case again later, and a refusal names the problem.
    """

    def __init__(self, client: LegacyClient) -> None:
        self.client = client

    def write(self, case_id: str, values: Mapping[str, Any]) -> SinkResult:
        try:
            created, reference = self.client.submit_application(case_id, dict(values))
        except LegacySystemError as exc:
            raise RetryableError(str(exc)) from exc
        return SinkResult(applied=created, reference=reference)

    def close(self) -> None:
        """The connector owns the client and closes it."""


class Settings(BaseModel):
    """Connector settings: ``[connectors.{{ cookiecutter.connector_name }}]`` in govconnect.toml or
    ``GOVCONNECT_{{ cookiecutter.connector_name.upper() }}_BASE_URL`` in the environment."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        default="http://127.0.0.1:8080/api", description="base URL of the legacy HTTP API"
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds to wait for an answer")


{% include "connector_class.py.j2" %}

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        self.client = LegacyClient(self.settings.base_url, timeout=self.settings.timeout)

    def close(self) -> None:
        self.client.close()

{% include "person_query.py.j2" %}
    def person(self, params: PersonQuery) -> Iterator[Person]:
        row = self.client.person(str(params.citizen_id))
        if row is not None:
            yield Person(
                citizen_id=row["sfzh"],
                name=row["xm"],
                region_code=row["xzqh"],
                registered_on=datetime.strptime(row["djrq"], "%Y%m%d").date(),
            )

    @intake(
        matter_code=MATTER_CODE,
        name="申请受理",
        target=APPLICATION_FIELDS,
        target_name="申请接口参数",
        mapping={
            "sqbh": From("case_id"),
            "sfzh": From("applicant.citizen_id"),
            "xm": From("applicant.name"),
            "sqsj": From("submitted_at").date("%Y%m%d%H%M%S"),
            "ly": Const("一窗受理"),
        },
    )
    def application(self) -> ApplicationSink:
        """Applications from the one window are passed to the legacy API, not re-typed."""
        return ApplicationSink(self.client)
