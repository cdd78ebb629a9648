"""Masking personal information for consumers not granted it unmasked.

Citizen IDs and credit codes use the SDK's own helpers (region and check characters kept); names
keep the surname's first character, phone numbers the carrier prefix and last four digits, dates
the year, addresses the district. Anything else personal is masked whole. The rule is chosen once
per field from its type, name and catalog title (``phone``, ``电话``, ``姓名``, ``地址``…).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from .._connector import Service
from ..catalog.fields import _unwrap
from ..catalog.identity import CitizenId, CreditCode, mask, mask_citizen_id, mask_credit_code

__all__ = ["Masker", "mask_value", "masker_for"]

Masker = Callable[[Any], Any]


def _mask_name(value: str) -> str:
    """``张*`` / ``欧阳**``: the surname's first character kept."""
    return mask(value, 1, 0)


def _mask_phone(value: str) -> str:
    """``138****5678``: the carrier prefix and the last four digits kept — for mobile numbers.
    A shorter number (a landline) keeps at most a third of its digits, so it is never readable."""
    if len(value) >= 11:
        return mask(value, 3, 4)
    keep = len(value) // 3
    return mask(value, keep - keep // 2, keep // 2)


def _mask_date(value: str) -> str:
    """``1949-**-**``: the year kept (enough for age bands), month and day hidden."""
    return value[:4] + "".join("*" if c.isdigit() else c for c in value[4:])


def _mask_address(value: str) -> str:
    """``北京市朝阳区******``: the district part kept, the street and door hidden."""
    return mask(value, min(6, max(len(value) // 2, 1)), 0)


def _mask_all(value: str) -> str:
    return "*" * max(len(value), 1)


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
