"""Check characters: ISO 7064 MOD 11-2 (GB 11643), GB 11714 organisation codes, GB 32100 MOD 31.

Each weighted sum here is a geometric series, so it equals a positional number in a suitable base
modulo the check's modulus. That lets ``int(text, base)`` — one C call — replace a Python loop
over the characters, which is what makes per-record validation cheap:

- GB 11643 weights are ``2**(17-i) mod 11``; 13 ≡ 2 (mod 11), so the sum is
  ``2 * int(first17, 13) mod 11``.
- GB 32100 weights are ``3**i mod 31``; 34 ≡ 3 (mod 31), so over the reversed characters
  (translated to their alphabet values) the sum is ``int(reversed, 34) mod 31``.
- GB 11714 weights are ``2**(9-k) mod 11``; 35 ≡ 2 (mod 11), so for bodies in the
  credit-code alphabet (no Z, value 35) the sum is ``2 * int(body, 35) mod 11``.

The plain loops are kept as the reference the property tests compare against.
"""

from __future__ import annotations

__all__ = [
    "citizen_id_check_char",
    "credit_code_check_char",
    "organization_code_check_char",
]

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHARS = "0123456789X"  # check value -> character

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
#: each credit-code character to the ``int(…, 34)`` digit of the same value
_TO_BASE34 = str.maketrans(USCC_ALPHABET, "0123456789abcdefghijklmnopqrstu")

ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
ORG_BODY = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def citizen_id_check_char(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits (ISO 7064 MOD 11-2)."""
    if len(first17) != 17:
        raise ValueError("the check character is computed over exactly 17 digits")
    if not first17.isdigit() or not first17.isascii():
        raise ValueError("the check character is computed over 17 ASCII digits")
    return mod11_2(first17)


def mod11_2(first17: str) -> str:
    """MOD 11-2 over 17 ASCII digits the caller has already checked (``int`` would also accept
    signs, underscores and non-ASCII digits, so it must only ever see checked text)."""
    return ID_CHARS[(1 - 2 * int(first17, 13)) % 11]


def organization_code_check_char(body8: str) -> str:
    """The GB 11714 check character of an 8-character organisation code body."""
    total = sum(ORG_BODY.index(c) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def org_check_in_credit_code(code: str) -> str:
    """The GB 11714 check character of positions 9-16 of a credit code whose characters are
    already known to be in the credit-code alphabet (so every value is below 35)."""
    check = 11 - (2 * int(code[8:16], 35)) % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def credit_code_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters."""
    total = sum(USCC_VALUE[c] * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_check(code: str) -> str:
    """``credit_code_check_char`` for text already known to be in the alphabet (one C call)."""
    return USCC_ALPHABET[-int(code[16::-1].translate(_TO_BASE34), 34) % 31]
