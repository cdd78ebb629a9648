"""Normalising a value before comparison, so that spelling is not reported as a conflict.

Two systems write the same fact differently: full-width digits and letters (NFKC), stray or
doubled whitespace, a date as ``1990-01-02``, ``19900102`` or ``1990年1月2日``, a gender as the code
``1`` or its label ``男``. Each is reduced to one form; what still differs is a real conflict.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .._exceptions import InvalidInputError
from ..catalog.codetables import CodeTable
from ..catalog.textdates import parse_text_date

__all__ = ["normalise"]

_WIDE_GAP = re.compile(
    r"(?<=[^\x00-\x7f]) (?=[^\x00-\x7f])|(?<=[^\x00-\x7f]) (?=[\x00-\x7f])|(?<=[\x00-\x7f]) (?=[^\x00-\x7f])"
)
_LOOKS_DATE = re.compile(r"\d{4}(?:[-/.年]?\d{1,2}[-/.月]?\d{1,2}日?|[-/]?\d{2}[-/]?\d{2}[ T].*)")


def normalise(value: Any, table: CodeTable | None = None) -> str | None:
    """The comparable form of ``value``; ``None`` for a missing value (never a conflict: a blank
    in one source is a gap, not a contradiction)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if _midnight(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal | int | float):
        return _number(value)
    text = str(value)
    wide = not text.isascii()
    if wide:
        text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.split())  # every run of whitespace one space, none at the ends
    if not text:
        return None
    if wide and " " in text:
        # a space between two Chinese characters (or beside one) is layout: 张 三 = 张三
        text = _WIDE_GAP.sub("", text)
    if table is not None:
        try:
            return table.code_for(text)
        except InvalidInputError:
            pass  # not a code or label of the table: compared as written
    if text[0].isdigit() and _LOOKS_DATE.fullmatch(text):
        parsed = parse_text_date(text)
        if isinstance(parsed, date):
            return parsed.isoformat()
    return text.casefold()


def _midnight(value: datetime) -> bool:
    return (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)


def _number(value: Decimal | int | float) -> str:
    """``12.50`` and ``12.5`` are one amount."""
    number = Decimal(str(value)).normalize()
    return format(number, "f")
