"""The audit log's hash chain: how a record is linked to the one before it, and how to check it.

``hash = SM3(prev_hash + "\\n" + compact JSON of the record's content columns)``, the first record
linked to :data:`GENESIS`. Walking the records in sequence order, :func:`_verify_chain` finds an
edited record (its hash no longer matches), a deleted one (a gap, or a broken link), a reordered
pair (a record linked to one stored elsewhere), a truncated tail (the head points past the end)
and, given an anchor an inspector wrote down earlier, a rewritten head. The chain knows nothing
of storage: the store hands it its rows, its head and a way to find a record by hash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._exceptions import AuditIntegrityError
from .policy import HASH_NAME, digest

__all__ = ["GENESIS", "VerifyReport"]

GENESIS = "0" * 64


@dataclass
class VerifyReport:
    """Result of :meth:`AuditLog.verify`: how many records were checked and the head."""

    records: int
    head_seq: int
    head_hash: str
    algorithm: str = HASH_NAME
    problems: list[AuditIntegrityError] = field(default_factory=list)


def _chain_hash(prev_hash: str, content: Sequence[Any]) -> str:
    """SM3 over the previous hash and the record's content columns as compact JSON (a list
    or a tuple of the columns: orjson writes both as the same JSON array)."""
    content = content if isinstance(content, list | tuple) else list(content)
    return digest(prev_hash.encode() + b"\n" + orjson.dumps(content))


def _verify_chain(
    rows: Iterable[Sequence[Any]],
    head: Callable[[], tuple[int, str]],
    seq_of_hash: Callable[[str], int | None],
    anchor: tuple[int, str] | None = None,
) -> VerifyReport:
    """Walk ``rows`` (``seq``, the content columns, ``prev_hash``, ``hash``; in ``seq`` order);
    raise :class:`AuditIntegrityError` naming the first bad record.

    ``head`` reads the stored head once the walk is done; ``seq_of_hash`` finds the record
    stored with a hash (``None`` if there is none); ``anchor`` is a ``(seq, hash)`` an inspector
    noted earlier: that record must still exist with that hash.
    """
    expected, prev, count = 1, GENESIS, 0
    anchor_seen = anchor is None
    for row in rows:
        seq, content, prev_hash, stored = row[0], row[1:-2], row[-2], row[-1]
        if seq != expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
            raise AuditIntegrityError(
                expected, "deleted", f"record(s) {missing} are missing from the chain"
            )
        if _chain_hash(prev_hash, content) != stored:
            raise AuditIntegrityError(seq, "altered", "its content does not match its hash")
        if prev_hash != prev:
            raise _broken_link(seq, seq_of_hash(prev_hash))
        if anchor is not None and seq == anchor[0]:
            if stored != anchor[1]:
                raise AuditIntegrityError(
                    seq, "altered", "its hash differs from the anchor noted by the inspector"
                )
            anchor_seen = True
        prev, expected, count = stored, seq + 1, count + 1
    head_seq, head_hash = head()
    last = expected - 1
    if head_seq > last:
        raise AuditIntegrityError(
            last + 1,
            "truncated",
            f"the log ends at record {last} but its head says {head_seq}: "
            f"records {last + 1}..{head_seq} were deleted",
        )
    if head_seq != last or head_hash != prev:
        raise AuditIntegrityError(
            head_seq, "altered", "the head does not match the last record of the chain"
        )
    if not anchor_seen:
        assert anchor is not None
        raise AuditIntegrityError(
            anchor[0], "truncated", "the anchored record is no longer in the log"
        )
    return VerifyReport(records=count, head_seq=head_seq, head_hash=head_hash)


def _broken_link(seq: int, other: int | None) -> AuditIntegrityError:
    """What a record whose ``prev_hash`` is not its predecessor's hash tells: ``other`` is the
    record stored with that hash, if any."""
    if other is not None:
        return AuditIntegrityError(
            min(seq, other + 1),
            "reordered",
            f"record {seq} was chained after record {other}, but is stored after record {seq - 1}",
        )
    return AuditIntegrityError(
        seq - 1,
        "altered",
        f"record {seq} was chained to a record that is no longer there: record {seq - 1} "
        "was altered and re-hashed, or replaced",
    )
