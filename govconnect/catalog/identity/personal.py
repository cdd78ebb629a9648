"""Any personal identity number: the type an intake form uses when the applicant may be anyone.

"One number to apply" (一号申请) must work for every lawful holder of a number: residents with 18
or (in old records) 15 digits, Hong Kong / Macao / Taiwan residents with residence permits, and
foreigners with permanent residence ID cards. The shapes do not overlap (citizen numbers start
1-8, the 2023 foreigners' format starts 9, the 2017 one with three letters), so the number itself
says which rules apply; the parsed value is a :class:`CitizenId` or a
:class:`PermanentResidenceId` and carries its ``kind``.
"""

from __future__ import annotations

from ..._exceptions import IdentityError
from ._base import _IdentityStr, normalise
from .citizen import CitizenId, CitizenIdRules
from .foreign import PermanentResidenceId

__all__ = ["PersonalId"]

#: first-generation numbers are kept as given, so ``kind`` still says what the applicant holds
_AS_GIVEN = CitizenIdRules(first_generation="accept")


class PersonalId(_IdentityStr):
    """Any personal identity number; ``parse`` returns a ``CitizenId`` or ``PermanentResidenceId``.

    >>> PersonalId.parse("810000199001010019").kind
    <IdentityKind.HONG_KONG_PERMIT: 'hong_kong_permit'>

    Errors name the type the number's shape selected (``citizen_id.check_digit``,
    ``permanent_residence_id.birth_date``), or ``personal_id.length`` when no shape fits.
    """

    label = "personal id"
    example = "11010519491231002X"
    lengths = (15, 18)

    @classmethod
    def parse(cls, value: object) -> CitizenId | PermanentResidenceId:  # type: ignore[override]
        if isinstance(value, CitizenId | PermanentResidenceId):
            return value
        text = normalise(value, cls.label)
        if len(text) not in (15, 18):
            raise IdentityError(
                cls.label, "length", f"must be 15 or 18 characters, got {len(text)}"
            )
        if text[0] == "9" or text[0].isalpha():
            return PermanentResidenceId.parse(text)
        return CitizenId.parse(text, rules=_AS_GIVEN)
