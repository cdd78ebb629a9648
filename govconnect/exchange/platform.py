"""Constants of the exchange-platform contract (``docs/platform-api.yaml``), in one place.

The client and the mock platform both import their header names, paths, status values and error
codes from here, so the two cannot drift apart; ``tests/test_platform_contract.py`` checks that every
constant below matches the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, unquote

from .._exceptions import InvalidInputError, Problem

__all__ = [
    "API_PREFIX",
    "CASE_STATUSES",
    "CORRECTION_KEY_TYPES",
    "ERROR_CODES",
    "HEADER_AUTHORIZATION",
    "HEADER_CASE_ID",
    "HEADER_IDEMPOTENCY_KEY",
    "HEADER_MESSAGE_ID",
    "HEADER_NODE",
    "HEADER_RETRY_AFTER",
    "HEADER_USER_ID",
    "MAX_BATCH_RECORDS",
    "MAX_CASE_ID_LENGTH",
    "MAX_NOTICE_ELEMENT",
    "MAX_NOTICE_KEY",
    "MAX_NOTICE_VALUE",
    "NODE_PATTERN",
    "NOTICE_ID_PATTERN",
    "OPERATIONS",
    "PATH_CASES",
    "PATH_CASE_ACK",
    "PATH_CASE_STATUS",
    "PATH_CORRECTIONS",
    "PATH_RECORDS",
    "PATH_RESOURCE",
    "PATH_RESOURCES",
    "RECORD_OPS",
    "RESOURCE_CODE_PATTERN",
    "TERMINAL_STATUSES",
    "case_ack_path",
    "case_status_path",
    "decode_case_id",
    "encode_case_id",
    "resource_path",
]

API_PREFIX: Final = "/v1"

HEADER_AUTHORIZATION: Final = "Authorization"
HEADER_NODE: Final = "X-GovConnect-Node"
"""The calling node, ``{department_code}/{system_code}`` (X-Road's member + subsystem)."""
HEADER_MESSAGE_ID: Final = "X-Message-Id"
"""Unique per message; a retry of the same message repeats it, so logs on both sides line up."""
HEADER_USER_ID: Final = "X-User-Id"
"""The handling officer (经办人) or end user on whose behalf the call is made."""
HEADER_CASE_ID: Final = "X-Case-Id"
"""The intake case (办件) the exchange belongs to, when there is one (X-Road-Issue)."""
HEADER_IDEMPOTENCY_KEY: Final = "Idempotency-Key"
HEADER_RETRY_AFTER: Final = "Retry-After"

PATH_RESOURCES: Final = f"{API_PREFIX}/catalog/resources"
PATH_RESOURCE: Final = f"{API_PREFIX}/catalog/resources/{{code}}"
PATH_RECORDS: Final = f"{API_PREFIX}/exchange/records"
PATH_CASES: Final = f"{API_PREFIX}/intake/cases"
PATH_CASE_ACK: Final = f"{API_PREFIX}/intake/cases/{{case_id}}/ack"
PATH_CASE_STATUS: Final = f"{API_PREFIX}/intake/cases/{{case_id}}/status"
PATH_CORRECTIONS: Final = f"{API_PREFIX}/exchange/corrections"
"""Correction notices (数据纠错通知): a cross-check's conflict sent back to the disputed source."""

CASE_STATUSES: Final = ("accepted", "in_progress", "completed", "returned")
"""受理, 办理中, 办结, 退回 — in the order a case normally moves through them."""
TERMINAL_STATUSES: Final = frozenset({"completed", "returned"})
RECORD_OPS: Final = ("upsert", "delete")
"""``upsert`` (the default) replaces the record with the same ``id``; ``delete`` is a tombstone."""
OPERATIONS: Final = ("publish", "status", "correction")
"""Kinds of outgoing exchange the outbox carries: record batches, case status changes and
correction notices."""

ERROR_CODES: Final = (
    "bad_request",
    "unauthorized",
    "not_found",
    "conflict",
    "invalid",
    "throttled",
    "unavailable",
    "internal",
)
"""Values of the ``error`` member of an error body, one per status the platform answers with."""

MAX_BATCH_RECORDS: Final = 5000

RESOURCE_CODE_PATTERN: Final = re.compile(r"^[0-9A-Za-z]+/[0-9A-Za-z]+$")
NODE_PATTERN: Final = re.compile(r"^[0-9A-Za-z]+/[0-9A-Za-z_.-]+$")

MAX_CASE_ID_LENGTH: Final = 200
"""The longest case id (in characters) the contract allows; any other non-empty text is allowed."""

CORRECTION_KEY_TYPES: Final = ("citizen_id", "credit_code")
"""What a correction notice's ``key`` is: a citizen ID number or a unified social credit code."""
NOTICE_ID_PATTERN: Final = re.compile(r"^[0-9a-f]{32}$")
"""A notice id: 32 lowercase hex digits, a digest of what the notice is about (stable)."""
MAX_NOTICE_KEY: Final = 64
MAX_NOTICE_ELEMENT: Final = 100
MAX_NOTICE_VALUE: Final = 1000
"""Characters of a value a notice carries; a longer value is cut there and marked ``truncated``."""


def resource_path(code: str) -> str:
    """Path of one catalog resource; the code's slash is percent-encoded (``111112001%2F2001``)."""
    return PATH_RESOURCE.format(code=quote(code, safe=""))


def encode_case_id(case_id: str) -> str:
    """A case id as it travels in a path segment and in ``X-Case-Id``: its UTF-8 bytes, every byte
    but ASCII letters, digits, ``-``, ``_`` and ``~`` percent-encoded — ``.`` too, so that ``.`` and
    ``..`` are never taken for dot-segments and normalised away (``办件/1`` →
    ``%E5%8A%9E%E4%BB%B6%2F1``). Ids of letters, digits, ``-`` and ``_`` travel unchanged.

    A string with no UTF-8 form (a lone surrogate) is not a case id the contract allows: it cannot
    be named in any request, so it is refused here rather than crashing the HTTP layer.
    """
    try:
        return quote(case_id, safe="", encoding="utf-8", errors="strict").replace(".", "%2E")
    except UnicodeEncodeError:
        raise InvalidInputError(
            [Problem("case_id", "unicode", "the case id has no UTF-8 form (a lone surrogate)")]
        ) from None


def decode_case_id(text: str) -> str:
    """The inverse of :func:`encode_case_id` (what the platform does with a path segment or header);
    percent-encoded bytes that are not UTF-8 are refused."""
    try:
        return unquote(text, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidInputError(
            [Problem("case_id", "unicode", "the percent-encoded case id is not UTF-8")]
        ) from None


def case_ack_path(case_id: str) -> str:
    return PATH_CASE_ACK.format(case_id=encode_case_id(case_id))


def case_status_path(case_id: str) -> str:
    return PATH_CASE_STATUS.format(case_id=encode_case_id(case_id))
