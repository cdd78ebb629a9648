"""Masking personal information for consumers not granted it unmasked.

Citizen IDs and credit codes use the SDK's own helpers (region and check characters kept); names
keep the surname's first character, phone numbers the carrier prefix and last four digits, dates
the year, addresses the district. Anything else personal is masked whole. No mask's length
depends on the original's (docs/gateway.md lists the format of each). The rule is chosen once
per field from its type, name and catalog title (``phone``, ``电话``, ``姓名``, ``地址``…).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from .._connector import Service
from ..catalog.fields import _unwrap
from ..catalog.identity import CitizenId, CreditCode, mask_citizen_id, mask_credit_code

__all__ = ["Masker", "mask_value", "masker_for"]

Masker = Callable[[Any], Any]


# Every mask but the identity numbers' has a fixed length: a masked value whose length followed
# the original's would tell a two-character name from a four-character one, or a short address
# from a long one. Identity numbers are validated to one length (18), so their published
# prefix/suffix rule leaks nothing either.
NAME_MASK = "**"
PHONE_MASK = "****"
DATE_MASK = "-**-**"
ADDRESS_MASK = "********"
OTHER_MASK = "****"
_PHONE_LEN = 11
_ADDRESS_KEEP = 6
_ADDRESS_MIN = 9  # an address keeps its district only when at least a third stays hidden


def _mask_name(value: str) -> str:
    """``张**`` / ``欧**``: the surname's first character and a fixed mask (3 characters)."""
    return value[:1] + NAME_MASK if len(value) >= 2 else "*" + NAME_MASK


def _mask_phone(value: str) -> str:
    """``138****5678``: the carrier prefix and the last four digits of a mobile number (11
    characters or more); any shorter number (a landline) is masked whole, as 11 stars."""
    if len(value) >= _PHONE_LEN:
        return value[:3] + PHONE_MASK + value[-4:]
    return "*" * _PHONE_LEN


def _mask_date(value: str) -> str:
    """``1949-**-**``: the year kept (enough for age bands), month and day hidden (10 characters,
    a date-time too)."""
    year = value[:4]
    return (year if len(year) == 4 and year.isdigit() else "****") + DATE_MASK


def _mask_address(value: str) -> str:
    """``北京市朝阳区********``: the district part (first six characters) kept when at least a
    third of the address stays hidden, else a fixed mask of the same length (14 characters)."""
    if len(value) >= _ADDRESS_MIN:
        return value[:_ADDRESS_KEEP] + ADDRESS_MASK
    return "*" * (_ADDRESS_KEEP + len(ADDRESS_MASK))


def _mask_all(value: str) -> str:
    """``****`` whatever the value."""
    return OTHER_MASK


def masker_for(name: str, title: str, annotation: Any) -> Masker:
    base = _unwrap(annotation)
    text = f"{name} {title}".lower()
    if isinstance(base, type) and issubclass(base, CitizenId):
        fn: Callable[[str], str] = mask_citizen_id
    elif isinstance(base, type) and issubclass(base, CreditCode):
        fn = mask_credit_code
    elif any(k in text for k in ("phone", "mobile", "tel", "电话", "手机")):
        fn = _mask_phone
    elif "name" in text or "姓名" in text:
        fn = _mask_name
    elif isinstance(base, type) and issubclass(base, date):
        fn = _mask_date
    elif any(k in text for k in ("address", "地址", "住址")):
        fn = _mask_address
    else:
        fn = _mask_all

    def masker(value: Any) -> Any:
        return None if value is None else fn(str(value))

    return masker


def mask_value(service: Service, field_name: str, value: Any) -> Any:
    """The value of a personal field as a consumer without the personal grant sees it."""
    info = service.record_model.model_fields[field_name]
    return masker_for(field_name, info.title or "", info.annotation)(value)
