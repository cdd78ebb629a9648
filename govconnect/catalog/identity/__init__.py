"""Identity numbers as legacy systems hold them: the keys of "one number to apply" (一号申请).

Every type is a ``str`` subclass usable as a pydantic field type. Values are normalised first
(surrounding space stripped, full-width characters folded to half-width, a lower-case ``x``
upper-cased), then checked rule by rule; an :class:`IdentityError` names the first rule that failed
(``length``, ``charset``, ``address_code``, ``birth_date``, ``check_digit``,
``organization_code_check_digit``…).

- ``citizen``: citizen ID numbers (GB 11643), 18 digits, first-generation 15 digits (opt-in per
  field with ``CitizenIdRules``) and residence permits for Hong Kong, Macao and Taiwan residents.
- ``foreign``: foreigners' permanent residence ID numbers (2023 and 2017 formats).
- ``personal``: ``PersonalId``, any of the above, each value carrying its ``kind``.
- ``credit``: unified social credit codes (GB 32100) with their nested GB 11714 check.
- ``regions``: address codes, province part always, GB/T 2260 with history on request.
- ``checks``: the check-character functions; ``masks``: one mask per kind.
"""

from ._base import IdentityKind, _IdentityStr
from .checks import citizen_id_check_char, credit_code_check_char, organization_code_check_char
from .citizen import CitizenId, CitizenIdRules, LegacyCitizenId, upgrade_citizen_id
from .credit import CreditCode
from .foreign import PermanentResidenceId
from .masks import (
    mask,
    mask_citizen_id,
    mask_credit_code,
    mask_identity,
    mask_permanent_residence_id,
)
from .personal import PersonalId
from .regions import RegionCheck, region_status

__all__ = [
    "CitizenId",
    "CitizenIdRules",
    "CreditCode",
    "IdentityKind",
    "LegacyCitizenId",
    "PermanentResidenceId",
    "PersonalId",
    "RegionCheck",
    "_IdentityStr",
    "citizen_id_check_char",
    "credit_code_check_char",
    "mask",
    "mask_citizen_id",
    "mask_credit_code",
    "mask_identity",
    "mask_permanent_residence_id",
    "organization_code_check_char",
    "region_status",
    "upgrade_citizen_id",
]
