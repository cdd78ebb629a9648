"""How a case and the status that reports it commit: in one transaction, or in two stores.

Normally the legacy write (the sink's transaction) commits first and the ``accepted`` status, with
the intake journal's row, commits in the outbox after it. A crash between the two is covered by
the sink's idempotency: the case, unacknowledged, comes back, the sink answers "duplicate", and it
is reported then. When a ``DatabaseSink``'s legacy database also holds the outbox (a schema of
that PostgreSQL database), the status and the journal row are written on the sink's own
connection before it commits: one transaction, no window at all (:func:`write_and_report`).

Which of the two applies is decided per sink when the bridge opens it (:func:`open_sink`), logged,
and shown by ``govconnect intake run`` (its summary, and ``commit_modes`` in ``--json``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..cases.case import CaseStatus
from ..cases.handlers import IntakeHandler
from ..cases.sinks import Sink, SinkResult
from ..cases.sinks.database import CommitMode, OneTransactionRefused
from .report import CaseOutcome

if TYPE_CHECKING:
    from .bridge import IntakeBridge

__all__ = ["CommitMode", "accepted", "open_sink", "open_sinks", "write_and_report"]

log = logging.getLogger("govconnect.bridge")


def open_sink(bridge: IntakeBridge, handler: IntakeHandler) -> Sink:
    """The handler's sink, opened, with its commit mode decided (``bridge.commit_modes``) and
    logged: only a sink with ``bind_outbox`` (the ``DatabaseSink``) can share the outbox's
    transaction. A sink whose mode cannot be decided — it refuses (:class:`OneTransactionRefused`),
    or its database is down (:class:`RetryableError`, tried again later) — is closed and the
    error raised."""
    sink = handler.sink(bridge._connector(handler.connector.name))
    binder = getattr(sink, "bind_outbox", None)
    if binder is None:
        mode = CommitMode(False, f"a {type(sink).__name__} writes outside the outbox's database")
    else:
        try:
            mode = binder(bridge.outbox)
        except BaseException:  # refused, or the legacy database down (retried next round)
            sink.close()  # each try opens a sink (an engine): none may be left behind
            raise
    log.info("intake matter %s: a case and its status commit in %s", handler.matter_code, mode)
    bridge.commit_modes[handler.matter_code] = mode
    return sink


def open_sinks(bridge: IntakeBridge) -> dict[str, CommitMode]:
    """Open the bridge's sinks not open yet rather than at their first case, so that the commit
    mode is known (and a refused one, :class:`OneTransactionRefused`, stops the run) at the
    start. A sink that cannot be opened for another reason (the legacy system is down, the
    connector is misconfigured) is logged and left to its first case, as before."""
    for matter, handler in bridge.handlers.items():
        if matter in bridge._sinks:
            continue
        try:
            bridge._sink(handler)
        except OneTransactionRefused:
            raise
        except Exception as exc:
            log.warning(
                "intake matter %s: sink not opened yet (%s); trying again at its first case",
                matter,
                type(exc).__name__,
            )
    return dict(bridge.commit_modes)


def accepted(
    case_id: str, matter: str, result: SinkResult, values: Mapping[str, Any], **fields: Any
) -> tuple[CaseOutcome, dict[str, Any]]:
    """The outcome of a case the sink took (``fields``: more of :class:`CaseOutcome`'s), and the
    ``accepted`` status's result data."""
    outcome = CaseOutcome(
        case_id,
        matter,
        "written" if result.applied else "duplicate",
        reference=result.reference,
        fields_filled=len(values),
        **fields,
    )
    return outcome, {"reference": result.reference, **result.result}


class _Undone(Exception):
    """The status could not be queued: roll the case's transaction back, answer ``outcome``."""

    def __init__(self, outcome: CaseOutcome) -> None:
        super().__init__(outcome.outcome)
        self.outcome = outcome


def write_and_report(
    bridge: IntakeBridge,
    handler: IntakeHandler,
    case_id: str,
    values: Mapping[str, Any],
    **fields: Any,
) -> CaseOutcome:
    """Write the case through the handler's sink and queue its ``accepted`` status with the
    journal's row (the bridge's ``_report``); ``fields`` go into the :class:`CaseOutcome`.

    Two stores: the sink commits the case, then the status commits in the outbox (a failure
    there defers the case; its redelivery is a "duplicate", reported then). One transaction
    (the sink is bound to the bridge's outbox): the status is queued inside the sink's
    transaction, and if it cannot be — the other process of an HA pair reported the case first,
    the outbox refused — the case's row is rolled back with it and the bridge's answer for that
    (``already_processed``, ``deferred``) is returned. The sink's own failures propagate either
    way, for the bridge to handle."""
    matter = handler.matter_code
    sink = bridge._sink(handler)
    if getattr(sink, "outbox", None) is not bridge.outbox:
        outcome, status_result = accepted(
            case_id, matter, sink.write(case_id, values), values, **fields
        )
        return bridge._report(outcome, CaseStatus.ACCEPTED.value, result=status_result)
    done: list[CaseOutcome] = []

    def then(result: SinkResult) -> None:
        outcome, status_result = accepted(case_id, matter, result, values, **fields)
        answer = bridge._report(outcome, CaseStatus.ACCEPTED.value, result=status_result)
        if answer is not outcome:
            raise _Undone(answer)
        done.append(outcome)

    try:
        sink.write(case_id, values, then=then)  # type: ignore[call-arg]
    except _Undone as undone:
        return undone.outcome
    return done[-1]
