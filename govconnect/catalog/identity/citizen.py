"""Citizen ID numbers (公民身份号码, GB 11643) as legacy systems hold them.

- 18 digits: 6-digit address code, 8-digit birth date, 3-digit sequence (odd = male), ISO 7064
  MOD 11-2 check character. Residence permits for Hong Kong, Macao and Taiwan residents use the
  same format with address codes 810000 / 820000 / 830000 and are told apart by ``kind``.
- 15 digits, the first generation (issued before 1999, still in many legacy tables): address
  code, ``YYMMDD`` birth date read as 19YY, 3-digit sequence, no check character. Upgraded by the
  standard rule: insert ``19`` before the birth date and append the MOD 11-2 check character.

``CitizenId`` is strict by default (18 digits only), because a record that publishes the upgraded
form must say so; a field opts in to the first generation with :class:`CitizenIdRules`::

    citizen_id: Annotated[CitizenId, CitizenIdRules(first_generation="upgrade")]

(``LegacyCitizenId`` is exactly that).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from ..._exceptions import IdentityError
from ._base import (
    IdentityKind,
    _IdentityStr,
    birth_date_problem,
    check_birth_date_and_mod11_2,
    digit_prefixes_pattern,
    json_schema,
    normalise,
    past_years_pattern,
    ymd_date,
)
from .checks import mod11_2
from .masks import mask_citizen_id
from .regions import PERMIT_PREFIXES, PROVINCES, RegionCheck, region_problem

__all__ = ["CitizenId", "CitizenIdRules", "LegacyCitizenId", "upgrade_citizen_id"]

_CHECK_CHARS = frozenset("0123456789X")
_DIGITS = re.compile(r"[0-9]+")
_PERMIT_KINDS = {
    "81": IdentityKind.HONG_KONG_PERMIT,
    "82": IdentityKind.MACAO_PERMIT,
    "83": IdentityKind.TAIWAN_PERMIT,
}
#: province prefixes of resident numbers (a permit's whole address code is fixed instead)
_RESIDENT_PREFIXES = frozenset(PROVINCES) - PERMIT_PREFIXES
#: a valid number's shape, address code (a province, or a permit's whole code) and birth date in
#: one regex: a year from 1800 to last year (so certainly not in the future), a month and a day of
#: that month (29 February is left to the full rules). ``[0-9]`` is ASCII only, so ``int`` is safe
#: on a match — it would also take signs, underscores, letters of its base and non-ASCII digits.
_FAST = re.compile(
    f"(?:(?:{digit_prefixes_pattern(_RESIDENT_PREFIXES)})[0-9]{{4}}|8[123]0000)"
    f"(?:{past_years_pattern(date.today().year - 1)})"
    "(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
    "|02(?:0[1-9]|1[0-9]|2[0-8]))"
    "[0-9]{3}[0-9X]"
)
FirstGeneration = Literal["reject", "accept", "upgrade"]


@dataclass(frozen=True, slots=True)
class CitizenIdRules:
    """What a field accepts beyond strict 18-digit numbers, as ``Annotated`` metadata.

    - ``first_generation``: ``"reject"`` (the default: the field holds 18 digits only),
      ``"accept"`` (store 15-digit numbers as they are) or ``"upgrade"`` (store their 18-digit form).
    - ``regions``: how strictly the address code is checked (:class:`RegionCheck`).
    - ``permits``: whether Hong Kong / Macao / Taiwan residence permits are accepted.
    """

    first_generation: FirstGeneration = "reject"
    regions: RegionCheck = RegionCheck.PROVINCE
    permits: bool = True

    def __get_pydantic_core_schema__(
        self, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: object) -> CitizenId:
            return CitizenId.parse(value, rules=self)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return json_schema(CitizenId, (15 if self.first_generation == "accept" else 18, 18))


STRICT = CitizenIdRules()


class CitizenId(_IdentityStr):
    """A citizen ID number (公民身份号码, GB 11643), validated and normalised.

    >>> CitizenId.parse(" 11010519491231002x ")
    '11010519491231002X'
    >>> CitizenId.parse("110105491231002", rules=CitizenIdRules(first_generation="upgrade"))
    '11010519491231002X'
    """

    label = "citizen id"
    example = "11010519491231002X"

    @classmethod
    def parse(cls, value: object, rules: CitizenIdRules = STRICT) -> Self:
        """Validate ``value`` rule by rule; an :class:`IdentityError` names the first that fails."""
        if type(value) is str and rules is STRICT and _FAST.fullmatch(value):
            # the hot path (once per published record): a number as a legacy table
            # holds it — shape, province and a past calendar date checked by one regex, the
            # check character by ISO 7064's invariant (the whole number, check included, is
            # 1 mod 11); anything else, every failure included, takes the rule-by-rule path
            if value[17] == "X":
                if int(value[:17], 13) * 13 % 11 == 2:  # X is 10, and 13n + 10 ≡ 1 (mod 11)
                    return cls(value)
            elif int(value, 13) % 11 == 1:
                return cls(value)
        elif isinstance(value, cls) and rules is STRICT and len(value) == 18:
            return value
        text = normalise(value, cls.label)
        if len(text) == 15 and rules.first_generation != "reject":
            return cls._first_generation(text, rules)
        if len(text) != 18:
            expected = "15 or 18" if rules.first_generation != "reject" else "18"
            raise IdentityError(
                cls.label, "length", f"must be {expected} characters, got {len(text)}"
            )
        if not (text.isascii() and text[:17].isdigit() and text[17] in _CHECK_CHARS):
            raise IdentityError(cls.label, "charset", "must be 17 digits followed by a digit or X")
        problem = region_problem(text[:6], rules.regions)
        if problem is None and not rules.permits and text[:2] in _PERMIT_KINDS:
            problem = f"address code {text[:6]}: residence permits are not accepted here"
        if problem is not None:
            raise IdentityError(cls.label, "address_code", problem)
        check_birth_date_and_mod11_2(cls.label, text)
        return cls(text)

    @classmethod
    def _first_generation(cls, text: str, rules: CitizenIdRules) -> Self:
        if not _DIGITS.fullmatch(text):
            raise IdentityError(cls.label, "charset", "a 15-digit number has digits only")
        problem = region_problem(text[:6], rules.regions)
        if problem is None and text[:2] in _PERMIT_KINDS:  # permits were never 15 digits
            problem = f"address code {text[:6]}: first-generation numbers have no permit codes"
        if problem is not None:
            raise IdentityError(cls.label, "address_code", problem)
        problem = birth_date_problem("19" + text[6:12])
        if problem is not None:
            raise IdentityError(cls.label, "birth_date", problem)
        first17 = text[:6] + "19" + text[6:]
        return cls(first17 + mod11_2(first17) if rules.first_generation == "upgrade" else text)

    @property
    def kind(self) -> IdentityKind:
        """Resident, first generation, or a Hong Kong / Macao / Taiwan residence permit."""
        if len(self) == 15:
            return IdentityKind.FIRST_GENERATION
        return _PERMIT_KINDS.get(self[:2], IdentityKind.RESIDENT)

    @property
    def region_code(self) -> str:
        """The 6-digit administrative division code of the place of first registration."""
        return self[:6]

    @property
    def birth_date(self) -> date:
        return ymd_date(self[6:14] if len(self) == 18 else "19" + self[6:12])

    @property
    def gender_code(self) -> str:
        """GB/T 2261.1 code: ``1`` male (odd sequence), ``2`` female (even)."""
        return "1" if int(self[16 if len(self) == 18 else 14]) % 2 else "2"

    def upgraded(self) -> CitizenId:
        """The 18-digit form (a first-generation number upgraded; an 18-digit one unchanged)."""
        if len(self) == 18:
            return self
        first17 = self[:6] + "19" + self[6:]
        return CitizenId(first17 + mod11_2(first17))

    def masked(self) -> str:
        return mask_citizen_id(self)


LegacyCitizenId = Annotated[CitizenId, CitizenIdRules(first_generation="upgrade")]
"""A citizen ID field that accepts first-generation numbers and stores their 18-digit form."""


def upgrade_citizen_id(value: object) -> str:
    """The 18-digit form of a 15- or 18-digit citizen ID (validated), as plain text.

    The intake transform ``citizen_id_18`` (registered by the built-in plugin) is this function,
    so a mapping can feed a legacy system that stores 18 digits from a form that had 15.
    """
    return str(CitizenId.parse(value, rules=_UPGRADE))


_UPGRADE = CitizenIdRules(first_generation="upgrade")
