"""The connector: {{ cookiecutter.system_name }}, reached through its vendor's HTTP client.

The connector maps what the vendor's client returns (legacy field names) onto classified records;
govconnect builds the catalog entry, validates parameters and records, and serves and exchanges the
data.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from govconnect import (
    CitizenId,
    Connector,
    Department,
    LegacySystem,
    Level,
    Record,
    field,
    query,
)
from pydantic import BaseModel, ConfigDict, Field

from .client import LegacyClient

__all__ = {{ [cookiecutter.__class_name, "Person", "PersonQuery", "Settings"] | sort(case_sensitive=True) | tojson }}


class Person(Record):
    """A person as other departments receive it: English field names, typed and classified."""

    citizen_id: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, max_length=50)
    region_code: str = field("行政区划代码", level=Level.PUBLIC, max_length=6)
    registered_on: date = field("登记日期", level=Level.INTERNAL)


class PersonQuery(BaseModel):
    """Parameters of the lookup: one citizen ID number, validated before the legacy API is called."""

    model_config = ConfigDict(extra="forbid")

    citizen_id: CitizenId = Field(description="公民身份号码 of the person to look up")


class Settings(BaseModel):
    """Connector settings: ``[connectors.{{ cookiecutter.connector_name }}]`` in govconnect.toml or
    ``GOVCONNECT_{{ cookiecutter.connector_name.upper() }}_BASE_URL`` in the environment."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(
        default="http://127.0.0.1:8080/api", description="base URL of the legacy HTTP API"
    )
    timeout: float = Field(default=10.0, gt=0, description="seconds to wait for an answer")


class {{ cookiecutter.__class_name }}(Connector):
    """{{ cookiecutter.system_name }} of {{ cookiecutter.department_name }}."""

    name = "{{ cookiecutter.connector_name }}"
    department = Department(
        code="{{ cookiecutter.department_code }}",
        name="{{ cookiecutter.department_name }}",
    )
    system = LegacySystem(
        code="{{ cookiecutter.system_code }}",
        name="{{ cookiecutter.system_name }}",
    )
    Settings = Settings

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        self.client = LegacyClient(self.settings.base_url, timeout=self.settings.timeout)

    def close(self) -> None:
        self.client.close()

    @query(
        code="{{ cookiecutter.resource_code }}",
        name="人员基本信息查询",
        abstract="按公民身份号码查询人员在本系统登记的基本信息。",
        sharing="conditional",
        conditions="仅限依法办理政务服务事项时，凭办件编号查询",
        update_cycle="real_time",
        published="2026-01-01",
    )
    def person(self, params: PersonQuery) -> Iterator[Person]:
        row = self.client.person(str(params.citizen_id))
        if row is not None:
            yield Person(
                citizen_id=row["sfzh"],
                name=row["xm"],
                region_code=row["xzqh"],
                registered_on=datetime.strptime(row["djrq"], "%Y%m%d").date(),
            )

    # Intake handler goes here. Once govconnect's intake API exists, the handler that posts an
    # accepted case (办件) from the unified intake platform to this legacy system through the
    # client is declared on this class, next to the services; see the govconnect docs on intake.
