"""What one audit record holds, and the order in which the chain hashes its columns.

:data:`_CONTENT` is the one place the content columns and their order are written down: the store
inserts and selects them in that order and the chain hashes them in it, so reordering or adding a
column makes every record written before fail verification. Their text forms are fixed here too
(times as ``2026-03-01T08:00:00.000000Z``, lexically ordered so ``--since`` / ``--until`` compare
as text; field lists as compact JSON), so that any store chains the same bytes. Kept apart from
the storage and from the chain, which both build on it.

The officer columns (``officer_auth`` … ``token_id``, schema 3) came last and are hashed only
when a record holds any of them (:func:`_hashed`): a record without them hashes exactly as a
schema-2 record did, so a log written before them verifies unchanged, and a record that holds
them hashes a longer JSON array, which no schema-2 record can collide with (adding or clearing
one of them breaks its hash).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson

from .._exceptions import ConfigurationError
from .bounds import HEADER_TEXT_LIMITS as _LIMITS
from .bounds import MAX_ISSUER, MAX_PATH_BYTES, MAX_PURPOSE, MAX_REASON, clean_text

__all__ = ["AuditRecord", "parse_time"]

# Columns that the chain hash covers, in the order they are hashed.
_CONTENT = (
    "time",
    "consumer",
    "service",
    "purpose",
    "params_digest",
    "request_hash",
    "message_id",
    "case_id",
    "officer",
    "fields",
    "withheld",
    "masked",
    "rows",
    "outcome",
    "status",
    "reason",
    # schema 3: the officer behind the call (see the module's docstring)
    "officer_auth",
    "officer_digest",
    "officer_issuer",
    "officer_level",
    "token_id",
)
_COLUMNS = ("seq", *_CONTENT, "prev_hash", "hash")
_V2_WIDTH = _CONTENT.index("reason") + 1  # the content columns of a schema-2 record
#: The columns schema 3 added, as SQLite declares them (added to an older log when opened).
IDENTITY_COLUMNS = _CONTENT[_V2_WIDTH:]
_MAX_ID = 128  # consumer ids, digests, outcome codes: the gateway's own, bounded all the same


@dataclass(frozen=True)
class AuditRecord:
    """One audited request. ``fields`` / ``withheld`` / ``masked`` name record fields."""

    seq: int
    time: str
    consumer: str | None
    service: str
    purpose: str | None
    params_digest: str | None
    request_hash: str | None
    message_id: str | None
    case_id: str | None
    officer: str | None
    fields: list[str]
    withheld: list[str]
    masked: list[str]
    rows: int
    outcome: str
    status: int
    reason: str | None
    officer_auth: str | None
    officer_digest: str | None
    officer_issuer: str | None
    officer_level: str | None
    token_id: str | None
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _content(
    *,
    service: str,
    outcome: str,
    status: int,
    consumer: str | None = None,
    purpose: str | None = None,
    params_digest: str | None = None,
    request_hash: str | None = None,
    message_id: str | None = None,
    case_id: str | None = None,
    officer: str | None = None,
    fields: Sequence[str] = (),
    withheld: Sequence[str] = (),
    masked: Sequence[str] = (),
    rows: int = 0,
    reason: str | None = None,
    officer_auth: str | None = None,
    officer_digest: str | None = None,
    officer_issuer: str | None = None,
    officer_level: str | None = None,
    token_id: str | None = None,
) -> list[Any]:
    """One record's columns in chain order (the one place that order is written down).

    Every text column is cut to its bound and cleared of control characters here, whoever calls
    (``bounds``): the gateway refuses over-long text before it gets here, so this is the last
    line that keeps a record within ``MAX_RECORD_BYTES`` and safe to print."""
    return [
        _now(),
        clean_text(consumer, _MAX_ID),
        clean_text(service, MAX_PATH_BYTES) or "",
        clean_text(purpose, MAX_PURPOSE),
        clean_text(params_digest, _MAX_ID),
        clean_text(request_hash, _MAX_ID),
        clean_text(message_id, _LIMITS[b"x-message-id"]),
        clean_text(case_id, _LIMITS[b"x-case-id"]),
        clean_text(officer, _LIMITS[b"x-handling-officer"]),
        _json_list(fields),
        _json_list(withheld),
        _json_list(masked),
        rows,
        clean_text(outcome, _MAX_ID),
        status,
        clean_text(reason, MAX_REASON),
        clean_text(officer_auth, 16),
        clean_text(officer_digest, _MAX_ID),
        clean_text(officer_issuer, MAX_ISSUER),
        clean_text(officer_level, _MAX_ID),
        clean_text(token_id, _MAX_ID),
    ]


def _hashed(content: Sequence[Any]) -> Sequence[Any]:
    """The columns a record's hash covers: without its officer columns when all are empty, so
    records written before schema 3 (and records without an officer) hash as they always did."""
    if len(content) > _V2_WIDTH and all(v is None for v in content[_V2_WIDTH:]):
        return content[:_V2_WIDTH]
    return content


def _now() -> str:
    # ``isoformat`` is several times faster than ``strftime`` and gives the same text
    # (``2026-03-01T08:00:00.000000Z``) once its ``+00:00`` suffix is swapped for ``Z``.
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(value: str | date | datetime) -> str:
    """A bound for ``--since`` / ``--until`` in the log's own format (UTC, lexically ordered)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError(
                f"{value!r} is not an ISO date or date-time (e.g. 2026-03-01 or 2026-03-01T08:00)"
            ) from None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The gateway passes the same few field tuples (one per consumer and service) on every call.
_JSON_LISTS: dict[tuple[str, ...], str] = {}
_JSON_LISTS_MAX = 4096


def _json_list(values: Sequence[str]) -> str:
    if type(values) is tuple:
        found = _JSON_LISTS.get(values)
        if found is None:
            found = orjson.dumps(values).decode()
            if len(_JSON_LISTS) < _JSON_LISTS_MAX:
                _JSON_LISTS[values] = found
        return found
    return orjson.dumps(list(values)).decode()


def _record(row: Sequence[Any]) -> AuditRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    for key in ("fields", "withheld", "masked"):
        values[key] = json.loads(values[key])
    return AuditRecord(**values)
