"""What every identity type shares: normalisation, the birth-date rule, kinds and pydantic glue.

Kept apart from the types so that each type's module holds only its own rules, and so that the
birth-date check — the same for every number that carries a date — is written once.
"""

from __future__ import annotations

import unicodedata
from abc import ABCMeta, abstractmethod
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from ..._exceptions import IdentityError
from .checks import mod11_2


class IdentityKind(StrEnum):
    """Which document a personal identity number belongs to; every parsed value carries one.

    Intake forms that take "any personal identity number" need to know which it was (a foreign
    permanent resident is not looked up in the household register), so the kind travels with the
    value instead of being re-derived by each consumer.
    """

    RESIDENT = "resident"  # 居民身份证, 18 digits (GB 11643)
    FIRST_GENERATION = "first_generation"  # 第一代居民身份证, 15 digits, no check character
    HONG_KONG_PERMIT = "hong_kong_permit"  # 港澳台居民居住证, address code 810000
    MACAO_PERMIT = "macao_permit"  # 港澳台居民居住证, address code 820000
    TAIWAN_PERMIT = "taiwan_permit"  # 港澳台居民居住证, address code 830000
    PERMANENT_RESIDENCE = "permanent_residence"  # 外国人永久居留身份证, 2023 format, 18 digits
    PERMANENT_RESIDENCE_2017 = "permanent_residence_2017"  # the older 15-character format
    CREDIT_CODE = "credit_code"  # 统一社会信用代码 (an organisation, not a person)


def normalise(value: object, label: str) -> str:
    """Fold what legacy systems and forms really send (full-width digits, padding, a lower-case
    ``x``) to the canonical form, so that one number has one spelling in the catalog."""
    if not isinstance(value, str):
        raise IdentityError(label, "type", f"expected a string, got {type(value).__name__}")
    return unicodedata.normalize("NFKC", value).strip().upper()


# --- birth dates ------------------------------------------------------------------------------------

#: every MMDD of a leap year: a date is valid when its MMDD is here (and 0229 in a leap year only),
#: which is a set lookup instead of building a ``date`` per record (validation runs per record).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
MMDD = frozenset(f"{m:02d}{d:02d}" for m, n in enumerate(_MONTH_DAYS, 1) for d in range(1, n + 1))
EARLIEST_BIRTH = "18000101"
#: today as ``YYYYMMDD``, as of the last refresh. Time only moves forward, so a date not after it
#: is certainly not in the future: the clock is read only when a date is later than this.
TODAY = [date.today().strftime("%Y%m%d")]


def birth_date_problem(ymd: str) -> str | None:
    """Why an 8-digit ``YYYYMMDD`` cannot be a holder's birth date, or ``None`` when it can: a
    calendar date, not before 1800 (no living holder) and not in the future."""
    mmdd = ymd[4:]
    if mmdd not in MMDD or (mmdd == "0229" and not _leap(int(ymd[:4]))):
        return f"birth date {ymd} is not a calendar date"
    if ymd > TODAY[0]:
        TODAY[0] = date.today().strftime("%Y%m%d")
    if ymd < EARLIEST_BIRTH or ymd > TODAY[0]:
        return f"birth date {ymd} is out of range"
    return None


def check_birth_date_and_mod11_2(label: str, text: str) -> None:
    """The GB 11643 tail every 18-digit personal number shares (citizen IDs, permits, the 2023
    foreigners' format): a birth date at positions 7-14 and the MOD 11-2 check character."""
    problem = birth_date_problem(text[6:14])
    if problem is not None:
        raise IdentityError(label, "birth_date", problem)
    check_char(label, text[17], mod11_2(text[:17]))


def check_char(label: str, found: str, expected: str) -> None:
    """Raise the ``check_digit`` error of ``label`` unless ``found`` is ``expected``."""
    if found != expected:
        raise IdentityError(
            label, "check_digit", f"check character is {found}, expected {expected}"
        )


def past_years_pattern(last: int) -> str:
    """A regex matching the four-digit years 1800 to ``last`` (a year of this century), written
    as few alternatives as possible because it sits on the validation fast path."""
    decade, year = divmod(last - 2000, 10)
    parts = ["1[89][0-9]{2}"]
    if decade > 0:
        parts.append(f"20[0-{decade - 1}][0-9]")
    parts.append(f"20{decade}[0-{year}]")
    return "|".join(parts)


def digit_prefixes_pattern(prefixes: frozenset[str]) -> str:
    """A regex matching exactly the given two-digit prefixes, one alternative per first digit."""
    by_first: dict[str, list[str]] = {}
    for prefix in sorted(prefixes):
        by_first.setdefault(prefix[0], []).append(prefix[1])
    return "|".join(f"{first}[{''.join(seconds)}]" for first, seconds in by_first.items())


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def ymd_date(ymd: str) -> date:
    return date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:8]))


# --- pydantic integration -----------------------------------------------------------------------------


class _IdentityStr(str, metaclass=ABCMeta):
    """Shared pydantic integration: validate with ``parse``, serialise as the plain string.

    ``label`` names the type in errors (``invalid citizen id: … [check_digit]``) and in problem
    rules (``citizen_id.check_digit``), which callers match on, so it never changes.
    """

    label: ClassVar[str]
    example: ClassVar[str]
    lengths: ClassVar[tuple[int, int]] = (18, 18)

    @classmethod
    def parse(cls, value: object) -> Self:
        raise IdentityError(cls.label, "type", "abstract identity type")  # pragma: no cover

    @property
    @abstractmethod
    def kind(self) -> IdentityKind:
        """What kind of number this is (every concrete type says)."""

    @abstractmethod
    def masked(self) -> str:
        """The number as the gateway may show it (every concrete type has its published rule)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return json_schema(cls, cls.lengths)


def json_schema(cls: type[_IdentityStr], lengths: tuple[int, int]) -> JsonSchemaValue:
    return {
        "type": "string",
        "minLength": lengths[0],
        "maxLength": lengths[1],
        "format": cls.label.replace(" ", "-"),
        "examples": [cls.example],
    }
