"""What callers enqueue, as outbox rows: records checked against the record contract, encoded as
JSON and grouped into chunks of up to the outbox's batch size; a case status change is a row of
its own. A row is a tuple in the column order of :data:`~.schema.INSERT_ROW`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import islice, repeat
from typing import Any

import orjson

from ..._exceptions import InvalidInputError, Problem
from .. import platform as P
from ..client import status_body

__all__ = ["check_code", "encoded_rows", "publish_rows", "status_row"]

Row = tuple[Any, ...]


def publish_rows(
    code: str,
    records: Iterable[Mapping[str, Any]],
    size: int,
    user_id: str | None,
    case_id: str | None,
    now: float,
) -> Iterator[Row]:
    """The rows that publish ``records`` to ``code``, ``size`` records to a row; each chunk is
    checked and encoded as it is reached, so a bad record refuses the enqueue it is part of."""
    source, start = iter(records), 0
    while chunk := list(islice(source, size)):
        joined = _encode(_checked(chunk, start), start)
        yield _publish_row(code, joined, len(chunk), size, user_id, case_id, now)
        start += len(chunk)


def encoded_rows(
    code: str, payloads: Iterable[bytes], size: int, user_id: str | None, now: float
) -> Iterator[Row]:
    """Like :func:`publish_rows` for records the caller already encoded as JSON objects."""
    chunk: list[bytes] = []
    for payload in payloads:
        chunk.append(payload)
        if len(chunk) == size:
            yield _publish_row(code, b",".join(chunk), size, size, user_id, None, now)
            chunk = []
    if chunk:
        yield _publish_row(code, b",".join(chunk), len(chunk), size, user_id, None, now)


def _publish_row(
    code: str,
    joined: bytes,
    records: int,
    size: int,
    user_id: str | None,
    case_id: str | None,
    now: float,
) -> Row:
    """A publish row; a full chunk is a batch of its own, keyed now (see ``schema.OUTBOX_TABLE``)."""
    key = uuid.uuid4().hex if records == size else None
    return ("publish", code, user_id, case_id, records, now, key, joined)


def status_row(
    case_id: str,
    status: str,
    result: Mapping[str, Any] | None,
    reasons: Sequence[str] | None,
    user_id: str | None,
    now: float,
) -> Row:
    """The row of a case status change (with result data): a batch of its own, keyed now."""
    body = orjson.dumps(status_body(status, result=result, reasons=reasons))
    return ("status", case_id, user_id, case_id, 1, now, uuid.uuid4().hex, body)


def check_code(resource_code: str) -> None:
    if not P.RESOURCE_CODE_PATTERN.match(resource_code):
        raise InvalidInputError([Problem("resource_code", "pattern", "like 111112001/2001")])


_PLAIN_OPS = frozenset({None, "upsert"})


def _checked(chunk: list[Any], start: int) -> list[dict[str, Any]]:
    """The chunk's records as dicts, each checked against the record contract; ``start`` is the
    first one's index in the caller's records, to name the one that breaks it.

    The usual chunk (dicts, no ``op`` but upsert) is recognised by two passes in C; only a chunk
    with other mappings or deletes is checked record by record.
    """
    try:
        if (
            set(map(type, chunk)) == {dict}
            and set(map(dict.get, chunk, repeat("op"))) <= _PLAIN_OPS
        ):
            return chunk
    except TypeError:  # an unhashable "op": named below
        pass
    checked = []
    for i, record in enumerate(chunk, start):
        if type(record) is not dict:
            if not isinstance(record, Mapping):
                raise InvalidInputError([Problem(f"records[{i}]", "type", "an object")])
            record = dict(record)
        op = record.get("op")
        if op is not None:
            if op not in P.RECORD_OPS:
                raise InvalidInputError([Problem(f"records[{i}].op", "enum", "upsert|delete")])
            if op == "delete" and "id" not in record:
                raise InvalidInputError([Problem(f"records[{i}].id", "required", "delete")])
        checked.append(record)
    return checked


def _encode(chunk: list[dict[str, Any]], start: int) -> bytes:
    """The chunk's records as JSON objects joined by commas; ``start`` is the first one's index
    in the caller's records, to name the one that cannot be encoded."""
    try:
        return orjson.dumps(chunk)[1:-1]
    except TypeError:
        for offset, record in enumerate(chunk):
            try:
                orjson.dumps(record)
            except TypeError as exc:
                problem = Problem(f"records[{start + offset}]", "json", str(exc))
                raise InvalidInputError([problem]) from exc
        raise
