"""How a case and the status that reports it commit: in one transaction, or in two stores.

Normally the legacy write (the sink's transaction) commits first and the ``accepted`` status, with
the intake journal's row, commits in the outbox after it. A crash between the two is covered by
the sink's idempotency: the case, unacknowledged, comes back, the sink answers "duplicate", and it
is reported then. When a ``DatabaseSink``'s legacy database also holds the outbox (a schema of
that PostgreSQL database), the status and the journal row are written on the sink's own
connection before it commits: one transaction, no window at all (:func:`write_and_report`).

Which of the two applies is decided per sink when the bridge opens it (:func:`bind`), logged,
and shown by ``govconnect intake run`` (its summary, and ``commit_modes`` in ``--json``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..cases.case import CaseStatus
from ..cases.handlers import IntakeHandler
from ..cases.sinks import Sink, SinkResult
from ..cases.sinks.database import CommitMode, OneTransactionRefused
from .report import CaseOutcome

if TYPE_CHECKING:
    from .bridge import IntakeBridge

__all__ = ["CommitMode", "accepted", "bind", "open_sinks", "write_and_report"]

log = logging.getLogger("govconnect.bridge")


def bind(matter_code: str, sink: Sink, outbox: Any) -> CommitMode:
    """Ask ``sink`` how its cases will commit with their statuses in ``outbox`` (only a sink
    with ``bind_outbox``, the ``DatabaseSink``, can share a transaction), and log the answer.
    A sink that refuses (``transactional=True`` it cannot have) is closed and the error raised."""
    binder = getattr(sink, "bind_outbox", None)
    if binder is None:
        mode = CommitMode(False, f"a {type(sink).__name__} writes outside the outbox's database")
    else:
        try:
            mode = binder(outbox)
        except OneTransactionRefused:
            sink.close()
            raise
    log.info("intake matter %s: a case and its status commit in %s", matter_code, mode)
    return mode


def open_sinks(bridge: IntakeBridge, handlers: Iterable[IntakeHandler]) -> dict[str, CommitMode]:
    """Open the sinks of ``handlers`` now rather than at their first case, so that the commit
    mode is known (and a refused one, :class:`OneTransactionRefused`, stops the run) at the
    start. A sink that cannot be opened for another reason (the legacy system is down, the
    connector is misconfigured) is logged and left to its first case, as before."""
    for handler in handlers:
        try:
            bridge._sink(handler)
        except OneTransactionRefused:
            raise
        except Exception as exc:
            log.warning(
                "intake matter %s: sink not opened yet (%s); trying again at its first case",
                handler.matter_code,
                type(exc).__name__,
            )
    return dict(bridge.commit_modes)


def accepted(
    case_id: str, matter: str, result: SinkResult, values: Mapping[str, Any]
) -> tuple[CaseOutcome, dict[str, Any]]:
    """The outcome of a case the sink took, and the ``accepted`` status's result data."""
    outcome = CaseOutcome(
        case_id,
        matter,
        "written" if result.applied else "duplicate",
        reference=result.reference,
        fields_filled=len(values),
    )
    return outcome, {"reference": result.reference, **result.result}


class _Undone(Exception):
    """The status could not be queued: roll the case's transaction back, answer ``outcome``."""

    def __init__(self, outcome: CaseOutcome) -> None:
        super().__init__(outcome.outcome)
        self.outcome = outcome


def write_and_report(
    report: Callable[..., CaseOutcome],
    sink: Any,
    case_id: str,
    matter: str,
    values: Mapping[str, Any],
) -> CaseOutcome:
    """Write the case and queue its ``accepted`` status (``report``: the bridge's, which records
    the journal row with it) in the sink's one transaction.

    If the status cannot be queued — the other process of an HA pair reported the case first,
    the outbox refused — the case's row is rolled back with it and the bridge's answer for that
    (``already_processed``, ``deferred``) is returned. The sink's own failures propagate, as for a
    sink that commits alone."""
    done: list[CaseOutcome] = []

    def then(result: SinkResult) -> None:
        outcome, status_result = accepted(case_id, matter, result, values)
        answer = report(outcome, CaseStatus.ACCEPTED.value, result=status_result)
        if answer is not outcome:
            raise _Undone(answer)
        done.append(outcome)

    try:
        sink.write(case_id, values, then=then)
    except _Undone as undone:
        return undone.outcome
    return done[-1]
