"""The connector: {{ cookiecutter.system_name }}, whose interface is a drop folder of files.

The legacy system has no API: it writes CSV files (GB18030, header row) into a folder. The connector
reads them as a stream, one row at a time, so a large drop never sits in memory; applications from
the one window go the other way, as files in its inbox folder. govconnect builds the catalog entry,
validates parameters and records, and serves and exchanges the data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from govconnect import (
    ConfigurationError,
    Connector,
    Const,
    Department,
    FileDropSink,
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
from .sample import APPLICATION_COLUMNS, ENCODING
from .sample_data import MATTER_CODE

__all__ = {{ [cookiecutter.__class_name, "Settings"] | sort(case_sensitive=True) | tojson }}


class Settings(BaseModel):
    """Connector settings: ``[connectors.{{ cookiecutter.connector_name }}]`` in govconnect.toml or
    ``GOVCONNECT_{{ cookiecutter.connector_name.upper() }}_DROP_DIR`` in the environment."""

    model_config = ConfigDict(extra="forbid")

    drop_dir: Path = Field(
        default=Path(".govconnect/{{ cookiecutter.connector_name }}-drop"),
        description="folder the legacy system writes its files into",
    )
    pattern: str = Field(default="*.csv", description="which files of the folder are data")
    encoding: str = Field(default=ENCODING, description="text encoding of the files")
    inbox_dir: Path = Field(
        default=Path(".govconnect/{{ cookiecutter.connector_name }}-inbox"),
        description="folder the legacy system takes new applications from",
    )


{% include "connector_class.py.j2" %}

{%- if cookiecutter.offering != "dataset" %}

{% include "person_query.py.j2" %}
    def person(self, params: PersonQuery) -> Iterator[Person]:
        for row in self._rows():
            if row["sfzh"] == params.citizen_id:
                yield self._person(row)
{%- endif %}
{%- if cookiecutter.offering != "lookup" %}

{% include "people_dataset.py.j2" %}
    def people(self) -> Iterator[Person]:
        for row in self._rows():
            yield self._person(row)
{%- endif %}

    @staticmethod
    def _person(row: dict[str, str]) -> Person:
        """One row of a drop file as the record other departments receive."""
        return Person(
            citizen_id=row["sfzh"],
            name=row["xm"],
            region_code=row["xzqh"],
            registered_on=datetime.strptime(row["djrq"], "%Y%m%d").date(),
        )

    def _rows(self) -> Iterator[dict[str, str]]:
        """Every row of every drop file, oldest file first, read lazily."""
        folder = self.settings.drop_dir
        if not folder.is_dir():
            raise ConfigurationError(f"drop folder {str(folder)!r} does not exist")
        for path in sorted(folder.glob(self.settings.pattern)):
            with path.open(encoding=self.settings.encoding, newline="") as fh:
                yield from csv.DictReader(fh)

    @intake(
        matter_code=MATTER_CODE,
        name="申请受理",
        target=APPLICATION_COLUMNS,
        target_name="申请文件",
        mapping={
            "sqbh": From("case_id"),
            "sfzh": From("applicant.citizen_id"),
            "xm": From("applicant.name"),
            "sqsj": From("submitted_at").date("%Y%m%d%H%M%S"),
            "ly": Const("一窗受理"),
        },
    )
    def application(self) -> FileDropSink:
        """Applications from the one window are dropped into the inbox as one CSV file each,
        committed by a manifest, so the legacy system never reads half a file or one twice."""
        return FileDropSink(
            self.settings.inbox_dir, format="csv", encoding=self.settings.encoding, prefix="SQ_"
        )
