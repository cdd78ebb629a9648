"""Unified social credit codes (统一社会信用代码, GB 32100): the organisation key.

Registration authority (a digit 1-9 or a letter), entity type (a digit 1-9), 6-digit district, 9-character organisation code (GB 11714,
with its own check character), MOD 31 check character. The letter registration authorities used
since 2016 (``A``, ``N``, ``Y``…) are valid, and the nested GB 11714 check is verified — both are
where python-stdnum falls short (``docs/identity.md``).
"""

from __future__ import annotations

import re
from typing import Self

from ..._exceptions import IdentityError
from ._base import IdentityKind, _IdentityStr, check_char, normalise
from .checks import USCC_VALUE, org_check_in_credit_code, uscc_check
from .masks import mask_credit_code

__all__ = ["CreditCode"]

_PLAIN = re.compile(r"[1-9A-HJ-NP-RTUWXY][1-9][0-9]{6}[0-9A-HJ-NP-RTUWXY]{10}")


class CreditCode(_IdentityStr):
    """An 18-character unified social credit code (统一社会信用代码, GB 32100).

    >>> CreditCode.parse("91350100M000100Y43").organization_code
    'M000100Y4'
    """

    label = "credit code"
    example = "91350100M000100Y43"

    @classmethod
    def parse(cls, value: object) -> Self:
        """Validate ``value`` rule by rule; an :class:`IdentityError` names the first that fails."""
        if isinstance(value, cls):
            return value
        # fast path: a well-formed code as the database holds it; otherwise each rule in turn
        if type(value) is str and _PLAIN.fullmatch(value):
            text = value
        else:
            text = cls._shape(normalise(value, cls.label))
        org_expected = org_check_in_credit_code(text)
        if text[16] != org_expected:
            raise IdentityError(
                cls.label,
                "organization_code_check_digit",
                f"organisation code {text[8:17]} has check character {text[16]}, "
                f"expected {org_expected}",
            )
        check_char(cls.label, text[17], uscc_check(text))
        return cls(text)

    @classmethod
    def _shape(cls, text: str) -> str:
        """The rules before the check characters, each failing with its own name."""
        if len(text) != 18:
            raise IdentityError(cls.label, "length", f"must be 18 characters, got {len(text)}")
        bad = sorted({c for c in text if c not in USCC_VALUE})
        if bad:
            raise IdentityError(
                cls.label,
                "charset",
                f"characters {''.join(bad)!r} are not in the code alphabet (no I, O, Z, S, V)",
            )
        if text[0] == "0":
            raise IdentityError(
                cls.label, "registration_authority", "position 1 (registration authority) is 0"
            )
        if text[1] not in "123456789":
            # GB 32100's organisation category codes are digits 1-9 under every authority
            raise IdentityError(
                cls.label, "entity_type", f"position 2 (entity type) is {text[1]}, not 1-9"
            )
        if not text[2:8].isdigit():
            raise IdentityError(cls.label, "district_code", "positions 3-8 must be digits")
        return text

    @property
    def kind(self) -> IdentityKind:
        return IdentityKind.CREDIT_CODE

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
