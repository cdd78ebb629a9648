"""Masks for identity numbers, one per kind, for consumers not granted the number unmasked.

Every identity mask has the same length whatever the number's kind or form (18 characters), so a
masked value does not reveal whether the holder has a first-generation number, a permit or a
foreigner's card; what is kept is what a clerk needs to tell two records apart (the region or
nationality part and the last four characters), never the birth date.
"""

from __future__ import annotations

__all__ = [
    "mask",
    "mask_citizen_id",
    "mask_credit_code",
    "mask_identity",
    "mask_permanent_residence_id",
]

MASKED_LENGTH = 18


def mask(value: str, keep_start: int, keep_end: int, char: str = "*") -> str:
    """Keep the first and last characters and mask the middle; short values are masked whole
    except one leading character, so masking never reveals a short value completely."""
    n = len(value)
    if n == 0:
        return value
    if keep_start + keep_end >= n:
        keep_start, keep_end = min(1, n - 1), 0
    return value[:keep_start] + char * (n - keep_start - keep_end) + value[n - keep_end :]


def _fixed(value: str, keep_start: int, keep_end: int) -> str:
    """``keep_start`` and ``keep_end`` characters around stars, always ``MASKED_LENGTH`` long;
    anything too short to keep both ends is masked whole (at that same length)."""
    if len(value) < keep_start + keep_end + 4:
        return "*" * MASKED_LENGTH
    stars = MASKED_LENGTH - keep_start - keep_end
    return value[:keep_start] + "*" * stars + value[len(value) - keep_end :]


def mask_citizen_id(value: str) -> str:
    """``110105********002X``: region kept, birth date hidden, sequence and check kept. A
    first-generation number is masked to the same 18 characters (``110105********0021``)."""
    return _fixed(value, 6, 4)


def mask_permanent_residence_id(value: str) -> str:
    """``911156********0016`` / ``USA110********2014``: the marker, province and nationality
    part kept, the birth date hidden, the last four kept; 18 characters for both formats."""
    return _fixed(value, 6, 4)


def mask_credit_code(value: str) -> str:
    """``9135**********0Y43``-style: authority, type and province kept, the last four kept."""
    return mask(value, 4, 4)


def mask_identity(value: str) -> str:
    """The mask for any personal identity number, whatever its kind (see ``PersonalId``)."""
    return _fixed(value, 6, 4)
