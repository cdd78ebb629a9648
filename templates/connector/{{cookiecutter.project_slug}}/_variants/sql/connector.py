"""The connector: {{ cookiecutter.system_name }} reached through its SQL database.

Declares the services the legacy system offers to other departments, with their catalog metadata
(资源目录); the records they serve, with the classification of every field, are in ``records.py``.
govconnect builds the catalog entry, validates parameters and records, and serves and exchanges the
data; this module only reads the legacy table and, for the intake handler, says where an
application goes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from govconnect import (
    Connector,
    Const,
    DatabaseSink,
    Department,
    From,
    LegacySystem,
{%- if cookiecutter.offering != "lookup" %}
    dataset,
{%- endif %}
    intake,
{%- if cookiecutter.offering != "dataset" %}
    query,
{%- endif %}
)
from pydantic import BaseModel, ConfigDict, Field

from .records import Person{% if cookiecutter.offering != "dataset" %}, PersonQuery{% endif %}
from .sample import application_table, legacy_table
from .sample_data import MATTER_CODE

__all__ = {{ [cookiecutter.__class_name, "Settings"] | sort(case_sensitive=True) | tojson }}


class Settings(BaseModel):
    """Connector settings: ``[connectors.{{ cookiecutter.connector_name }}]`` in govconnect.toml or
    ``GOVCONNECT_{{ cookiecutter.connector_name.upper() }}_URL`` in the environment."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        default="sqlite:///.govconnect/{{ cookiecutter.connector_name }}.sqlite",
        description="SQLAlchemy URL of the legacy database",
    )


{% include "connector_class.py.j2" %}

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        self.engine = sa.create_engine(self.settings.url)
        metadata = sa.MetaData()
        self.table = legacy_table(metadata)
        self.applications = application_table(metadata)

    def close(self) -> None:
        self.engine.dispose()

{%- if cookiecutter.offering != "dataset" %}

{% include "person_query.py.j2" %}
    def person(self, params: PersonQuery) -> Iterator[Person]:
        t = self.table
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(t).where(t.c.sfzh == str(params.citizen_id))):
                yield self._person(row)
{%- endif %}
{%- if cookiecutter.offering != "lookup" %}

{% include "people_dataset.py.j2" %}
    def people(self) -> Iterator[Person]:
        t = self.table
        with self.engine.connect() as conn:
            for row in conn.execute(sa.select(t).order_by(t.c.sfzh)):
                yield self._person(row)
{%- endif %}

    @staticmethod
    def _person(row: Any) -> Person:
        """One legacy row as the record other departments receive."""
        return Person(
            citizen_id=row.sfzh, name=row.xm, region_code=row.xzqh, registered_on=row.djrq
        )

    @intake(
        matter_code=MATTER_CODE,
        name="申请受理",
        target=application_table(sa.MetaData()),
        mapping={
            "sqbh": From("case_id"),
            "sfzh": From("applicant.citizen_id"),
            "xm": From("applicant.name"),
            "sqsj": From("submitted_at").date("%Y%m%d%H%M%S"),
            "ly": Const("一窗受理"),
        },
    )
    def application(self) -> DatabaseSink:
        """Applications from the one window go straight into the legacy application table, one
        transaction per case, upserted by case id (no re-typing, nothing applied twice)."""
        return DatabaseSink(self.engine, self.applications, key="sqbh")
