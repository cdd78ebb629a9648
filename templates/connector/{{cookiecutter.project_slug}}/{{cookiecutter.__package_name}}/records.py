"""What the connector serves: the record other departments receive, and the parameters of a lookup.

The same however the legacy system is reached; ``connector.py`` maps the legacy data onto them.
"""

from __future__ import annotations

from datetime import date

from govconnect import CitizenId, Level, Record, field
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Person", "PersonQuery"]


class Person(Record):
    """A person as other departments receive it: English field names, typed and classified."""

    citizen_id: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, max_length=50)
    region_code: str = field("行政区划代码", level=Level.PUBLIC, max_length=6)
    registered_on: date = field("登记日期", level=Level.INTERNAL)


class PersonQuery(BaseModel):
    """Parameters of the lookup: one citizen ID number, validated before the legacy system is asked."""

    model_config = ConfigDict(extra="forbid")

    citizen_id: CitizenId = Field(description="公民身份号码 of the person to look up")
