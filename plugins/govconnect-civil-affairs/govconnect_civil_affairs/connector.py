"""The connector: 社会救助案件管理系统, whose interface is a drop folder of files.

The legacy system has no API: it writes CSV files (GB18030, header row) into a folder. The connector
reads them as a stream, one row at a time, so a large drop never sits in memory. govconnect builds
the catalog entry, validates parameters and records, and serves and exchanges the data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

from govconnect import (
    CitizenId,
    ConfigurationError,
    Connector,
    Department,
    LegacySystem,
    Level,
    Record,
    field,
    query,
)
from pydantic import BaseModel, ConfigDict, Field

from .sample import ENCODING

__all__ = ["CivilAffairsConnector", "Person", "PersonQuery", "Settings"]


class Person(Record):
    """A person as other departments receive it: English field names, typed and classified."""

    citizen_id: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, max_length=50)
    region_code: str = field("行政区划代码", level=Level.PUBLIC, max_length=6)
    registered_on: date = field("登记日期", level=Level.INTERNAL)


class PersonQuery(BaseModel):
    """Parameters of the lookup: one citizen ID number, validated before any file is read."""

    model_config = ConfigDict(extra="forbid")

    citizen_id: CitizenId = Field(description="公民身份号码 of the person to look up")


class Settings(BaseModel):
    """Connector settings: ``[connectors.civil_affairs]`` in govconnect.toml or
    ``GOVCONNECT_CIVIL_AFFAIRS_DROP_DIR`` in the environment."""

    model_config = ConfigDict(extra="forbid")

    drop_dir: Path = Field(
        default=Path(".govconnect/civil_affairs-drop"),
        description="folder the legacy system writes its files into",
    )
    pattern: str = Field(default="*.csv", description="which files of the folder are data")
    encoding: str = Field(default=ENCODING, description="text encoding of the files")


class CivilAffairsConnector(Connector):
    """社会救助案件管理系统 of 北京市朝阳区民政局."""

    name = "civil_affairs"
    department = Department(
        code="11010500MZ",
        name="北京市朝阳区民政局",
    )
    system = LegacySystem(
        code="SHJZ",
        name="社会救助案件管理系统",
    )
    Settings = Settings

    @query(
        code="311105001/0001",
        name="人员基本信息查询",
        abstract="按公民身份号码查询人员在本系统登记的基本信息。",
        sharing="conditional",
        conditions="仅限依法办理政务服务事项时，凭办件编号查询",
        update_cycle="daily",
        published="2026-01-01",
    )
    def person(self, params: PersonQuery) -> Iterator[Person]:
        for row in self._rows():
            if row["sfzh"] == params.citizen_id:
                yield Person(
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

    # Intake handler goes here. Once govconnect's intake API exists, the handler that writes an
    # accepted case (办件) from the unified intake platform into this legacy system's inbox folder
    # is declared on this class, next to the services; see the govconnect docs on intake.
