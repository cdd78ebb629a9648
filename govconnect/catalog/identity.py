"""The two keys of "one number to apply" (一号申请): citizen ID numbers and credit codes.

Both are ``str`` subclasses usable as pydantic field types. Values are normalised first (surrounding
space stripped, full-width characters folded to half-width, a lower-case ``x`` upper-cased), then
checked rule by rule; an :class:`IdentityError` names the first rule that failed.

- Citizen ID (GB 11643): 6-digit region, 8-digit birth date, 3-digit sequence (odd = male), and an
  ISO 7064 MOD 11-2 check character.
- Unified social credit code (GB 32100): registration authority, entity type, 6-digit district,
  9-character organisation code (GB 11714, with its own check character), MOD 31 check character.
"""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import date
from operator import mul
from typing import Any, ClassVar, Self

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from .._exceptions import IdentityError

__all__ = [
    "CitizenId",
    "CreditCode",
    "citizen_id_check_char",
    "credit_code_check_char",
    "mask",
    "mask_citizen_id",
    "mask_credit_code",
    "organization_code_check_char",
]

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_OFFSET = 48 * sum(_ID_WEIGHTS)
_PLAIN_ID = re.compile(r"[0-9]{17}[0-9X]")
_ID_CHECK = "10X98765432"

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _normalise(value: object, kind: str) -> str:
    if not isinstance(value, str):
        raise IdentityError(kind, "type", f"expected a string, got {type(value).__name__}")
    return unicodedata.normalize("NFKC", value).strip().upper()


_day = [0.0, date.min]


def _today() -> date:
    """Today's date, looked up at most once a minute (validation runs per record)."""
    now = time.monotonic()
    if now - _day[0] > 60:
        _day[:] = [now, date.today()]
    return _day[1]  # type: ignore[return-value]


def citizen_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits (ISO 7064 MOD 11-2)."""
    if len(first17) != 17:
        raise ValueError("the check character is computed over exactly 17 digits")
    if not first17.isdigit() or not first17.isascii():
        raise ValueError("the check character is computed over 17 ASCII digits")
    # digits as bytes: sum(w * (byte - 48)) without an int() call per digit (runs per record)
    return _ID_CHECK[(sum(map(mul, first17.encode(), _ID_WEIGHTS)) - _ID_OFFSET) % 11]


def organization_code_check_char(body8: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body."""
    total = sum(_ORG_BODY.index(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


class _IdentityStr(str):
    """Shared pydantic integration: validate with ``parse``, show as an 18-character string."""

    kind: ClassVar[str]
    example: ClassVar[str]

    @classmethod
    def parse(cls, value: object) -> Self:
        raise IdentityError(cls.kind, "type", "abstract identity type")  # pragma: no cover

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
        return {
            "type": "string",
            "minLength": 18,
            "maxLength": 18,
            "format": cls.kind.replace(" ", "-"),
            "examples": [cls.example],
        }


class CitizenId(_IdentityStr):
    """An 18-digit citizen ID number (公民身份号码, GB 11643), validated and normalised.

    >>> CitizenId.parse(" 11010519491231002x ")
    '11010519491231002X'
    """

    kind = "citizen id"
    example = "11010519491231002X"

    @classmethod
    def parse(cls, value: object) -> Self:
        if isinstance(value, cls):
            return value
        # fast path for what legacy databases hold: 18 ASCII characters, nothing to normalise
        text = (
            value if type(value) is str and _PLAIN_ID.match(value) else _normalise(value, cls.kind)
        )
        if len(text) != 18:
            raise IdentityError(cls.kind, "length", f"must be 18 characters, got {len(text)}")
        if not _PLAIN_ID.match(text):
            raise IdentityError(cls.kind, "charset", "must be 17 digits followed by a digit or X")
        try:
            born = date.fromisoformat(text[6:14])  # YYYYMMDD, checked as a calendar date
        except ValueError:
            raise IdentityError(
                cls.kind, "birth_date", f"birth date {text[6:14]} is not a calendar date"
            ) from None
        if born.year < 1800 or born > _today():
            raise IdentityError(cls.kind, "birth_date", f"birth date {text[6:14]} is out of range")
        expected = citizen_id_check_char(text[:17])
        if text[17] != expected:
            raise IdentityError(
                cls.kind, "check_digit", f"check character is {text[17]}, expected {expected}"
            )
        return cls(text)

    @property
    def region_code(self) -> str:
        """The 6-digit administrative division code of the place of first registration."""
        return self[:6]

    @property
    def birth_date(self) -> date:
        return date(int(self[6:10]), int(self[10:12]), int(self[12:14]))

    @property
    def gender_code(self) -> str:
        """GB/T 2261.1 code: ``1`` male (odd sequence), ``2`` female (even)."""
        return "1" if int(self[16]) % 2 else "2"

    def masked(self) -> str:
        return mask_citizen_id(self)


class CreditCode(_IdentityStr):
    """An 18-character unified social credit code (统一社会信用代码, GB 32100).

    >>> CreditCode.parse("91350100M000100Y43").organization_code
    'M000100Y4'
    """

    kind = "credit code"
    example = "91350100M000100Y43"

    @classmethod
    def parse(cls, value: object) -> Self:
        if isinstance(value, cls):
            return value
        text = _normalise(value, cls.kind)
        if len(text) != 18:
            raise IdentityError(cls.kind, "length", f"must be 18 characters, got {len(text)}")
        bad = sorted({c for c in text if c not in _USCC_VALUE})
        if bad:
            raise IdentityError(
                cls.kind,
                "charset",
                f"characters {''.join(bad)!r} are not in the code alphabet (no I, O, Z, S, V)",
            )
        if text[0] == "0":
            raise IdentityError(
                cls.kind, "registration_authority", "position 1 (registration authority) is 0"
            )
        if text[1] == "0":
            raise IdentityError(cls.kind, "entity_type", "position 2 (entity type) is 0")
        if not text[2:8].isdigit():
            raise IdentityError(cls.kind, "district_code", "positions 3-8 must be digits")
        org_expected = organization_code_check_char(text[8:16])
        if text[16] != org_expected:
            raise IdentityError(
                cls.kind,
                "organization_code_check_digit",
                f"organisation code {text[8:17]} has check character {text[16]}, "
                f"expected {org_expected}",
            )
        expected = credit_code_check_char(text[:17])
        if text[17] != expected:
            raise IdentityError(
                cls.kind, "check_digit", f"check character is {text[17]}, expected {expected}"
            )
        return cls(text)

    @property
    def registration_authority(self) -> str:
        return self[0]

    @property
    def entity_type(self) -> str:
        return self[1]

    @property
    def district_code(self) -> str:
        return self[2:8]

    @property
    def organization_code(self) -> str:
        """The embedded 9-character GB 11714 organisation code (with its check character)."""
        return self[8:17]

    def masked(self) -> str:
        return mask_credit_code(self)


def mask(value: str, keep_start: int, keep_end: int, char: str = "*") -> str:
    """Keep the first and last characters and mask the middle; short values are masked whole
    except one leading character, so masking never reveals a short value completely."""
    n = len(value)
    if n == 0:
        return value
    if keep_start + keep_end >= n:
        keep_start, keep_end = min(1, n - 1), 0
    return value[:keep_start] + char * (n - keep_start - keep_end) + value[n - keep_end :]


def mask_citizen_id(value: str) -> str:
    """``110105********002X``: region kept, birth date hidden, sequence and check kept."""
    return mask(value, 6, 4)


def mask_credit_code(value: str) -> str:
    """``9135********00Y43``-style: authority, type and province kept, the last four kept."""
    return mask(value, 4, 4)
