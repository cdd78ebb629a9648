"""Back to the source: a conflict becomes a correction notice (数据纠错通知) for the department
whose copy differs from the authoritative source, queued in the outbox, sent exactly once.

Only a conflict with an authoritative side can be sent: without one nobody can say which copy is
wrong, so such conflicts are counted (``unaddressed``) and left to people. A notice is addressed
to each source whose normalised value differs from the authoritative one (a third source that
agrees with it gets none) and carries the key, the element, both resources with their
departments and the two values — never the values other sources hold (``docs/platform-api.yaml``,
``CorrectionNotice``).

The notice id is a digest of what the notice is about (key type, key, element, both resource
codes, both *normalised* values), so the same dispute found by the next run has the same id; it is
also the outbox batch key and so the idempotency key. The outbox queues an id once, ever (it
remembers every id it queued, also after ``outbox purge``: :meth:`Outbox.enqueue_corrections`),
and the platform stores a notice id once: running the cross-check twice sends nothing new, and a
retry after a lost answer is refused as a duplicate.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

import orjson

from ..exchange import platform as P

if TYPE_CHECKING:
    from ..exchange.outbox.store import Outbox
    from .report import Conflict, CrosscheckReport, Source

__all__ = ["NoticeSummary", "correction_notices", "notice_id", "send_corrections"]

_ENQUEUE_CHUNK = 1000
"""Notices committed per outbox transaction: memory stays flat however many conflicts."""


@dataclass
class NoticeSummary:
    """What sending the notices of one report came to."""

    notices: int = 0
    """Notices the report gives (one per conflict and disputing source with an authoritative side)."""
    queued: int = 0
    """Of those, queued now (new to the outbox)."""
    already: int = 0
    """Of those, queued by an earlier run and not dead: waiting, in flight or delivered."""
    dead: int = 0
    """Of those, queued by an earlier run and refused for good by the platform: dead letters,
    not queued again (``govconnect outbox dead`` shows them, ``outbox retry`` sends them again)."""
    unaddressed: int = 0
    """Conflicts with no authoritative side: reported, never sent."""

    def as_dict(self) -> dict[str, int]:
        return {
            "notices": self.notices,
            "queued": self.queued,
            "already_queued": self.already,
            "already_dead": self.dead,
            "unaddressed": self.unaddressed,
        }


def notice_id(
    key_type: str,
    key: str,
    element: str,
    authoritative: tuple[str, str],
    disputed: tuple[str, str],
) -> str:
    """The stable id of a dispute; ``authoritative`` and ``disputed`` are (resource code,
    normalised value). 32 hex digits of SHA-256 over their JSON array."""
    parts = [key_type, key, element, *authoritative, *disputed]
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()[:32]


def _side(source: Source, value: Any) -> dict[str, Any]:
    text = "" if value is None else str(value)
    department = source.service.connector.department
    side: dict[str, Any] = {
        "resource_code": source.service.code,
        "department_code": department.code,
        "department_name": department.name[:200],
        "value": text[: P.MAX_NOTICE_VALUE],
    }
    if len(text) > P.MAX_NOTICE_VALUE:
        side["truncated"] = True
    return side


def _notices_of(
    report: CrosscheckReport, conflict: Conflict, detected_at: str
) -> Iterator[dict[str, Any]]:
    owner = conflict.authoritative
    if owner is None:
        return
    theirs = conflict.norms[owner]
    authority = report.sources[owner]
    for name, norm in conflict.norms.items():
        if name == owner or norm == theirs:
            continue  # the authoritative copy itself, or a copy that agrees with it
        disputed = report.sources[name]
        yield {
            "notice_id": notice_id(
                report.key,
                conflict.key,
                conflict.element,
                (authority.service.code, theirs),
                (disputed.service.code, norm),
            ),
            "key_type": report.key,
            "key": conflict.key,
            "element": conflict.element,
            "authoritative": _side(authority, conflict.values[owner]),
            "disputed": _side(disputed, conflict.values[name]),
            "detected_at": detected_at,
        }


def correction_notices(
    report: CrosscheckReport, *, detected_at: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """The correction notices of ``report``, one per conflict and disputing source, for the
    conflicts that have an authoritative side (``CorrectionNotice`` of the platform contract)."""
    when = (detected_at or datetime.now(UTC)).isoformat(timespec="seconds")
    for conflict in report.conflicts:
        yield from _notices_of(report, conflict, when)


def send_corrections(
    report: CrosscheckReport,
    outbox: Outbox,
    *,
    user_id: str | None = None,
    detected_at: datetime | None = None,
) -> NoticeSummary:
    """Queue the report's correction notices in ``outbox`` (each notice id once, ever); the
    delivery worker sends them. Returns what was queued and what was not, and why (queued
    earlier and still live or delivered, or queued earlier and now a dead letter)."""
    summary = NoticeSummary(unaddressed=sum(1 for c in report.conflicts if c.authoritative is None))
    notices: Iterable[dict[str, Any]] = correction_notices(report, detected_at=detected_at)
    items = iter(notices)
    while chunk := list(islice(items, _ENQUEUE_CHUNK)):
        rows = [(n["notice_id"], n["disputed"]["resource_code"], orjson.dumps(n)) for n in chunk]
        queued = outbox.enqueue_corrections(rows, user_id=user_id)
        new = set(queued)
        dead = outbox.dead_notices([key for key, _, _ in rows if key not in new])
        summary.notices += len(chunk)
        summary.queued += len(queued)
        summary.dead += len(dead)
        summary.already += len(chunk) - len(queued) - len(dead)
    return summary
