"""Foreigners' permanent residence ID cards (外国人永久居留身份证), both number formats.

- 2023 format (issued since 1 December 2023), 18 characters in the GB 11643 style: ``9`` (the
  mark of a foreigner: citizen numbers start 1-8), 2-digit province code of the accepting
  authority, 3-digit nationality code (GB/T 2659 numeric), ``YYYYMMDD`` birth date, 3-digit
  sequence (odd = male), MOD 11-2 check character.
- 2017 (and 2004) format, 15 characters: 3-letter nationality code (GB/T 2659 alpha-3), 4-digit
  code of the accepting authority (province + city), ``YYMMDD`` birth date, one digit, one check
  digit. Its check algorithm is not in any published standard we could confirm, so it is not
  verified (``docs/identity.md``); shape, province and birth date are.

Nationality codes are checked for shape only: GB/T 2659 is not shipped (yet).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Self

from ..._exceptions import IdentityError
from ._base import (
    IdentityKind,
    _IdentityStr,
    birth_date_problem,
    check_birth_date_and_mod11_2,
    normalise,
    ymd_date,
)
from .masks import mask_permanent_residence_id
from .regions import PERMIT_PREFIXES, PROVINCES

__all__ = ["PermanentResidenceId"]

#: the accepting authority is on the mainland: neither Taiwan nor the special administrative regions
_MAINLAND = frozenset(PROVINCES) - PERMIT_PREFIXES - {"71"}
_NEW = re.compile(r"9[0-9]{16}[0-9X]")
_OLD = re.compile(r"[A-Z]{3}[0-9]{12}")


class PermanentResidenceId(_IdentityStr):
    """A foreigner's permanent residence ID number, 2023 (18) or 2017 (15 characters) format.

    >>> PermanentResidenceId.parse("911156198001010016").kind
    <IdentityKind.PERMANENT_RESIDENCE: 'permanent_residence'>
    """

    label = "permanent residence id"
    example = "911156198001010016"
    lengths = (15, 18)

    @classmethod
    def parse(cls, value: object) -> Self:
        """Validate ``value`` rule by rule; an :class:`IdentityError` names the first that fails."""
        if isinstance(value, cls):
            return value
        text = normalise(value, cls.label)
        if len(text) == 18:
            return cls._parse_2023(text)
        if len(text) == 15:
            return cls._parse_2017(text)
        raise IdentityError(cls.label, "length", f"must be 15 or 18 characters, got {len(text)}")

    @classmethod
    def _parse_2023(cls, text: str) -> Self:
        if not text.isascii() or not _NEW.fullmatch(text):
            raise IdentityError(
                cls.label, "charset", "must be 9, 16 digits and a digit or X (2023 format)"
            )
        if text[1:3] not in _MAINLAND:
            raise IdentityError(
                cls.label, "address_code", f"{text[1:3]} is not a mainland province code"
            )
        check_birth_date_and_mod11_2(cls.label, text)
        return cls(text)

    @classmethod
    def _parse_2017(cls, text: str) -> Self:
        if not text.isascii() or not _OLD.fullmatch(text):
            raise IdentityError(
                cls.label, "charset", "must be 3 letters and 12 digits (2017 format)"
            )
        if text[3:5] not in _MAINLAND:
            raise IdentityError(
                cls.label, "address_code", f"{text[3:5]} is not a mainland province code"
            )
        # YYMMDD: a holder born in 19YY or 20YY; accept the number if either reading is a date
        if all(birth_date_problem(century + text[7:13]) for century in ("19", "20")):
            raise IdentityError(
                cls.label, "birth_date", f"birth date {text[7:13]} (YYMMDD) is not a past date"
            )
        return cls(text)

    @property
    def kind(self) -> IdentityKind:
        return (
            IdentityKind.PERMANENT_RESIDENCE
            if len(self) == 18
            else IdentityKind.PERMANENT_RESIDENCE_2017
        )

    @property
    def nationality_code(self) -> str:
        """GB/T 2659 nationality: numeric (``156``-style) in 2023 numbers, alpha-3 in 2017 ones."""
        return self[3:6] if len(self) == 18 else self[:3]

    @property
    def province_code(self) -> str:
        """The province of the authority that accepted the application."""
        return self[1:3] if len(self) == 18 else self[3:5]

    @property
    def birth_date(self) -> date:
        """The birth date; for a 2017 number the latest reading of ``YYMMDD`` not in the future."""
        if len(self) == 18:
            return ymd_date(self[6:14])
        for century in ("20", "19"):
            if birth_date_problem(century + self[7:13]) is None:
                return ymd_date(century + self[7:13])
        raise ValueError(f"no birth date in {self!r}")  # pragma: no cover - parse checked it

    def masked(self) -> str:
        return mask_permanent_residence_id(self)
