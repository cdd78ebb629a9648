"""Dates that legacy systems keep as text (``CHAR(8)`` ``19850312``, ``1985-03-12``, ``1985年3月12日``).

Discovery types such a column as a date (D) or date-time (T) because that is what it means; the
record then declares it :data:`TextDate` / :data:`TextDateTime`, which read every spelling the
discovery detector recognises, so the connector passes the legacy value through unchanged and a
malformed one is refused by record validation with the field named, like any other bad value.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["TextDate", "TextDateTime", "parse_text_date", "parse_text_datetime"]

_DATE = re.compile(r"(\d{4})(?:[-/.]?)(\d{1,2})(?:[-/.]?)(\d{1,2})日?")
_CJK_DATE = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日")
_DATETIME = re.compile(
    r"(\d{4})[-/]?(\d{2})[-/]?(\d{2})[ T]?(\d{2}):?(\d{2}):?(\d{2})(?:\.(\d{1,6}))?"
)


def parse_text_date(value: Any) -> Any:
    """``date`` from a date written as text; anything else is left for pydantic to judge."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    match = _CJK_DATE.fullmatch(text) or _DATE.fullmatch(text)
    if match is None:
        found = _DATETIME.fullmatch(text)
        return parse_text_datetime(text).date() if found else value
    year, month, day = (int(g) for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return value  # pydantic names the field and says it is not a valid date


def parse_text_datetime(value: Any) -> Any:
    """``datetime`` from a date-time (or a date) written as text; else left for pydantic."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    match = _DATETIME.fullmatch(text)
    if match is None:
        day = parse_text_date(text)
        return datetime(day.year, day.month, day.day) if isinstance(day, date) else value
    parts = [int(g) for g in match.groups()[:6]]
    micro = int((match.group(7) or "0").ljust(6, "0"))
    try:
        return datetime(*parts, micro)
    except ValueError:
        return value


TextDate = Annotated[date, BeforeValidator(parse_text_date)]
"""A date the legacy system stores as text; validated and served as a ``date``."""
TextDateTime = Annotated[datetime, BeforeValidator(parse_text_datetime)]
"""A date-time the legacy system stores as text; validated and served as a ``datetime``."""
