"""The audit log's hash chain: how a record is linked to the one before it, and how to check it.

Two generations of link, one chain:

- **unkeyed** (schema 1, logs written before keying): ``hash = SM3(prev_hash + "\\n" + compact
  JSON of the record's content columns)``. Anyone who knows the algorithm can recompute it, so
  an edited record with every later hash recomputed verifies; only an anchor noted elsewhere
  catches that.
- **keyed** (schema 2): ``hash = HMAC-SM3(K, prev_hash + "\\n" + seq + "\\n" + content JSON)``,
  with ``K`` derived from the audit key kept outside the log (``$GOVCONNECT_AUDIT_KEY`` or the
  key file beside it). A forged or re-hashed record needs the key, and the sequence number is
  inside the hash, so a record moved to another number no longer verifies.

The log's **seal** (``HMAC(K, log id, first keyed record, creation time)``, in ``audit_meta``)
says from which record on the chain is keyed, so an attacker cannot move that point; the
**head** carries ``HMAC(K, log id, seq, hash)``, so a truncated tail with the head rewritten to
match, or an emptied log with its head reset, no longer verifies without an anchor either.
Records before the first keyed one (a migrated log's history) are verified as before and
reported as unkeyed; the first keyed record links to the last of them, so rewriting that history
breaks the keyed link.

The chain knows nothing of storage: the store hands it its rows, its head and a way to find a
record by hash. SHA-256 replaces SM3 where OpenSSL lacks SM3 (``HASH_NAME``).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._exceptions import AuditIntegrityError
from .audit_record import _hashed
from .policy import HASH_NAME, digest

__all__ = ["GENESIS", "SCHEMA_VERSION", "ChainKey", "VerifyReport"]

GENESIS = "0" * 64
SCHEMA_VERSION = 3  # 3: records may carry the officer columns (``audit_record._hashed``)
#: Schemas of a sealed log this govconnect reads (2: keyed, without the officer columns).
SCHEMAS = frozenset({"2", "3"})
_RENUMBER_SEARCH = 64  # how far a renumbered record's true sequence number is looked for


@dataclass
class VerifyReport:
    """Result of :meth:`AuditLog.verify`: how many records were checked, the head, and from
    which record on the chain is keyed (``None``: the log was never keyed; schema 1)."""

    records: int
    head_seq: int
    head_hash: str
    algorithm: str = HASH_NAME
    problems: list[AuditIntegrityError] = field(default_factory=list)
    keyed_from: int | None = None
    unkeyed: int = 0
    created: str | None = None

    @property
    def chain(self) -> str:
        """``HMAC-SM3`` or ``SM3`` (``HMAC-SHA256`` / ``SHA256`` without SM3)."""
        name = self.algorithm.upper()
        return f"HMAC-{name}" if self.keyed_from is not None else name


def _chain_hash(prev_hash: str, content: Sequence[Any]) -> str:
    """The unkeyed link: SM3 over the previous hash and the record's content columns as compact
    JSON (a list or a tuple of the columns: orjson writes both as the same JSON array)."""
    content = content if isinstance(content, list | tuple) else list(content)
    return digest(prev_hash.encode() + b"\n" + orjson.dumps(_hashed(content)))


class ChainKey:
    """The chain's HMAC key (derived from the audit key, so the parameter digests and the chain
    never share a key), with the three things it signs: records, the seal and the head."""

    def __init__(self, audit_key: bytes) -> None:
        derived = hmac.new(audit_key, b"govconnect audit chain v2", HASH_NAME).digest()
        self._proto = hmac.new(derived, digestmod=HASH_NAME)  # copied per use: no key schedule

    def _mac(self, data: bytes) -> str:
        h = self._proto.copy()
        h.update(data)
        return h.hexdigest()

    def record(self, prev_hash: str, seq: int, content: Sequence[Any]) -> str:
        content = content if isinstance(content, list | tuple) else list(content)
        return self._mac(b"%s\n%d\n%s" % (prev_hash.encode(), seq, orjson.dumps(_hashed(content))))

    def seal(self, log_id: str, keyed_from: int, created: str) -> str:
        return self._mac(f"seal\n{log_id}\n{keyed_from}\n{created}\n{HASH_NAME}".encode())

    def head(self, log_id: str, seq: int, hash_: str) -> str:
        return self._mac(f"head\n{log_id}\n{seq}\n{hash_}".encode())


@dataclass
class Sealed:
    """What the seal of a keyed log says, and the key that checks it."""

    key: ChainKey
    log_id: str
    keyed_from: int
    created: str
    head_mac: Callable[[], str | None]


def _verify_chain(
    rows: Iterable[Sequence[Any]],
    head: Callable[[], tuple[int, str]],
    seq_of_hash: Callable[[str], int | None],
    anchor: tuple[int, str] | None = None,
    sealed: Sealed | None = None,
) -> VerifyReport:
    """Walk ``rows`` (``seq``, the content columns, ``prev_hash``, ``hash``; in ``seq`` order);
    raise :class:`AuditIntegrityError` naming the first bad record.

    ``head`` reads the stored head once the walk is done; ``seq_of_hash`` finds the record
    stored with a hash (``None`` if there is none); ``anchor`` is a ``(seq, hash)`` an inspector
    noted earlier: that record must still exist with that hash. ``sealed``: the log is keyed
    from ``sealed.keyed_from`` on (``None``: an unkeyed schema-1 log).
    """
    keyed_from = sealed.keyed_from if sealed is not None else None
    expected, prev, count, unkeyed = 1, GENESIS, 0, 0
    anchor_seen = anchor is None
    for row in rows:
        seq, content, prev_hash, stored = row[0], row[1:-2], row[-2], row[-1]
        if seq != expected:
            missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
            raise AuditIntegrityError(
                expected, "deleted", f"record(s) {missing} are missing from the chain"
            )
        keyed = sealed is not None and keyed_from is not None and seq >= keyed_from
        if keyed:
            assert sealed is not None
            if sealed.key.record(prev_hash, seq, content) != stored:
                raise _bad_keyed_record(sealed.key, seq, row, prev, seq_of_hash)
        else:
            if _chain_hash(prev_hash, content) != stored:
                raise AuditIntegrityError(seq, "altered", "its content does not match its hash")
            unkeyed += 1
        if prev_hash != prev:
            # a keyed predecessor verified under the key, so it was not re-hashed
            after_keyed = keyed and keyed_from is not None and seq - 1 >= keyed_from
            raise _broken_link(seq, seq_of_hash(prev_hash), keyed=after_keyed)
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
    if sealed is not None:
        if keyed_from is not None and last < keyed_from - 1:
            raise AuditIntegrityError(
                last + 1,
                "truncated",
                f"the log was keyed after record {keyed_from - 1}, but ends at record {last}",
            )
        mac = sealed.head_mac()
        if mac is None or not hmac.compare_digest(mac, sealed.key.head(sealed.log_id, last, prev)):
            raise AuditIntegrityError(
                last + 1,
                "truncated",
                f"the head was rewritten (its seal does not match the audit key): records after "
                f"{last} were deleted, or the log was emptied",
            )
    if not anchor_seen:
        assert anchor is not None
        raise AuditIntegrityError(
            anchor[0], "truncated", "the anchored record is no longer in the log"
        )
    return VerifyReport(
        records=count,
        head_seq=head_seq,
        head_hash=head_hash,
        keyed_from=keyed_from,
        unkeyed=unkeyed,
        created=sealed.created if sealed is not None else None,
    )


def _bad_keyed_record(
    key: ChainKey,
    seq: int,
    row: Sequence[Any],
    prev: str,
    seq_of_hash: Callable[[str], int | None],
) -> AuditIntegrityError:
    """What a keyed record whose hash does not verify tells. Its own number is in the hash: a
    record that verifies as the successor of another stored record was reordered; one that
    verifies under a later number was moved down (the records before it deleted and the rest
    renumbered); anything else was altered."""
    content, prev_hash, stored = row[1:-2], row[-2], row[-1]
    if prev_hash != prev:  # moved, not edited? find the number it was written under
        low, high = max(1, seq - _RENUMBER_SEARCH), seq + _RENUMBER_SEARCH
        written = next(
            (n for n in range(low, high + 1) if key.record(prev_hash, n, content) == stored), None
        )
        other = seq_of_hash(prev_hash)
        if written is not None and other is not None:
            return _broken_link(seq, other)  # an intact record, stored at another place
        if written is not None and written > seq:
            return AuditIntegrityError(
                seq,
                "deleted",
                f"{written - seq} record(s) from {seq} on were deleted and the records after "
                f"them renumbered (the record now numbered {seq} was written as {written})",
            )
    return AuditIntegrityError(seq, "altered", "its content does not match its keyed hash")


def _broken_link(seq: int, other: int | None, *, keyed: bool = False) -> AuditIntegrityError:
    """What a record whose ``prev_hash`` is not its predecessor's hash tells: ``other`` is the
    record stored with that hash, if any. In a keyed chain the predecessor verified under the key,
    so it was not re-hashed: records between the two were deleted."""
    if other is not None:
        return AuditIntegrityError(
            min(seq, other + 1),
            "reordered",
            f"record {seq} was chained after record {other}, but is stored after record {seq - 1}",
        )
    if keyed:
        return AuditIntegrityError(
            seq, "deleted", f"the record chained before record {seq} is missing from the log"
        )
    return AuditIntegrityError(
        seq - 1,
        "altered",
        f"record {seq} was chained to a record that is no longer there: record {seq - 1} "
        "was altered and re-hashed, or replaced",
    )
