"""The intake bridge: cases from the one window reach the legacy system without re-entry.

For every case the platform hands this node::

    pull → validate (identity numbers, materials) → map (per matter code) → write (sink)
         → status "accepted" (or "returned" with reasons) into the outbox → journal → acknowledge

Each case is its own unit of work: a case that fails validation or mapping, or that the legacy
system refuses, is *returned* to the platform with a reason per field and rule and never blocks the
cases behind it; a case the legacy system cannot take right now (database down) is left
unacknowledged so the platform hands it over again. Sinks are idempotent by case id, and the
intake journal — tables in the outbox's own SQLite file, written in the same transaction as the
status that reports the case — remembers finished cases, so a redelivered case is acknowledged
again but never written or reported twice.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from .._connector import Connector
from .._exceptions import ConfigurationError, InvalidInputError, Problem, RetryableError
from .._validation import problems_from_pydantic
from ..cases.case import Case, CaseStatus
from ..cases.handlers import IntakeHandler
from ..cases.mapping import MappingContext, apply_mapping, mapping_problems
from ..cases.sinks import Sink
from .journal import IntakeJournal
from .report import CaseOutcome, IntakeReport

if TYPE_CHECKING:
    from .._registry import Registry

__all__ = ["IntakeBridge"]

log = logging.getLogger(__name__)

MAX_PULL = 1000
"""The most cases one pull may ask for (the platform contract's limit)."""


class _CaseSource(Protocol):
    def pull_cases(self, limit: int = 100, **trace: Any) -> list[dict[str, Any]]: ...

    def ack_case(self, case_id: str, **trace: Any) -> None: ...


class _StatusOutbox(Protocol):
    def enqueue_status(
        self,
        case_id: str,
        status: str,
        *,
        result: Mapping[str, Any] | None = None,
        reasons: Any = None,
        user_id: str | None = None,
        within: Callable[[sqlite3.Connection], None] | None = None,
    ) -> int: ...

    @property
    def path(self) -> Path: ...


_WRITTEN = frozenset({"written", "duplicate", "already_processed"})
"""Journal outcomes of cases that are in the legacy system (and so may have statuses there)."""


class IntakeBridge:
    """Pull cases for this node, apply them to the legacy systems, report back through the outbox."""

    def __init__(
        self,
        registry: Registry,
        client: _CaseSource,
        outbox: _StatusOutbox,
        journal: IntakeJournal | None = None,
        *,
        connectors: Iterable[str] | None = None,
        user_id: str = "govconnect-intake",
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        max_attempts: int = 3,
    ) -> None:
        self._owns_journal = journal is None
        journal = journal if journal is not None else IntakeJournal(outbox.path)
        if Path(journal.path).resolve() != Path(outbox.path).resolve():
            raise ConfigurationError(
                "the intake journal must live in the outbox file (its rows commit with the status)"
            )
        self.registry, self.client, self.outbox, self.journal = registry, client, outbox, journal
        self.user_id = user_id
        self.max_attempts = max_attempts
        self._settings = settings or {}
        names = list(connectors) if connectors is not None else sorted(registry.connectors)
        self.handlers: dict[str, IntakeHandler] = {}
        problems: list[Problem] = []
        for name in names:
            for code, handler in registry.connector_class(name).intake_handlers().items():
                if code in self.handlers:
                    other = self.handlers[code].connector.name
                    problems.append(
                        Problem(code, "intake.matter_code_unique", f"handled by {other} and {name}")
                    )
                    continue
                problems.extend(
                    p
                    for p in mapping_problems(
                        handler.mapping,
                        handler.target,
                        where=f"{name}.{handler.method}.mapping",
                        target_name=handler.target_name,
                        code_tables=registry.code_tables,
                        transforms=registry.transforms,
                    )
                    if p.rule.startswith("mapping.unknown_") and p.rule != "mapping.unknown_target"
                )
                self.handlers[code] = handler
        if problems:
            raise ConfigurationError(
                "intake handlers cannot run: " + "; ".join(str(p) for p in problems)
            )
        self._connectors: dict[str, Connector] = {}
        self._sinks: dict[str, Sink] = {}
        self.poll_errors = 0

    # --- one case -------------------------------------------------------------------------------------

    def _connector(self, name: str) -> Connector:
        if name not in self._connectors:
            given = self._settings.get(name)
            self._connectors[name] = self.registry.connector(name, given)
        return self._connectors[name]

    def _sink(self, handler: IntakeHandler) -> Sink:
        if handler.matter_code not in self._sinks:
            self._sinks[handler.matter_code] = handler.sink(self._connector(handler.connector.name))
        return self._sinks[handler.matter_code]

    def process(self, raw: Mapping[str, Any]) -> CaseOutcome:
        """Apply one case; never raises for the case's own faults (they become 'returned')."""
        case_id = str(raw.get("case_id", ""))
        matter = str(raw.get("matter_code", ""))
        if self.journal.finished(case_id):
            return CaseOutcome(case_id, matter, "already_processed")
        handler = self.handlers.get(matter)
        if handler is None:
            problem = Problem(
                "matter_code", "matter.unknown", f"this node handles no matter {matter!r}"
            )
            return self._return(case_id, matter, [problem])
        try:
            case = Case.model_validate(raw)
        except ValidationError as exc:
            return self._return(case_id, matter, problems_from_pydantic(exc, "case"))
        ctx = MappingContext.for_case(case, self.registry.code_tables, self.registry.transforms)
        try:
            values = apply_mapping(handler.mapping, ctx)
            result = self._sink(handler).write(case.case_id, values)
        except RetryableError as exc:
            log.warning("case %s deferred: %s", case_id, exc)
            return CaseOutcome(
                case_id, matter, "deferred", [Problem("sink", "retryable", str(exc))]
            )
        except InvalidInputError as exc:
            return self._return(case_id, matter, exc.problems)
        except Exception as exc:  # our side failed (a bug, a misconfigured sink), not the case
            return self._internal_failure(case_id, matter, handler, exc)
        outcome = CaseOutcome(
            case_id,
            matter,
            "written" if result.applied else "duplicate",
            reference=result.reference,
            fields_filled=len(values),
        )
        status_result = {"reference": result.reference, **result.result}
        self.outbox.enqueue_status(
            case_id,
            CaseStatus.ACCEPTED.value,
            result=status_result,
            user_id=self.user_id,
            within=self.journal.recorder(outcome, CaseStatus.ACCEPTED.value),
        )
        return outcome

    def _internal_failure(
        self, case_id: str, matter: str, handler: IntakeHandler, exc: Exception
    ) -> CaseOutcome:
        """Defer a case that failed on our side; return it only once it has failed
        ``max_attempts`` times, so a poison case neither blocks the others nor loops forever.

        Only the exception's type travels (to logs, the journal and the citizen): driver messages
        carry parameters, and parameters carry citizen IDs.
        """
        attempts = self.journal.count_attempt(case_id)
        kind = type(exc).__name__
        log.error(
            "case %s failed in %s.%s: %s (attempt %d)",
            case_id,
            handler.connector.name,
            handler.method,
            kind,
            attempts,
        )
        if attempts < self.max_attempts:
            return CaseOutcome(case_id, matter, "deferred", [Problem("case", "internal", kind)])
        problem = Problem(
            "case", "internal", f"the department's system failed {attempts} times ({kind})"
        )
        return self._return(case_id, matter, [problem])

    def _return(self, case_id: str, matter: str, problems: list[Problem]) -> CaseOutcome:
        outcome = CaseOutcome(case_id, matter, "returned", problems)
        if not case_id:
            log.error("a case without a case id cannot be returned: %s", problems)
            return outcome
        self.outbox.enqueue_status(
            case_id,
            CaseStatus.RETURNED.value,
            result={"problems": [p.as_dict() for p in problems]},
            reasons=[str(p) for p in problems],
            user_id=self.user_id,
            within=self.journal.recorder(outcome, CaseStatus.RETURNED.value),
        )
        return outcome

    # --- rounds ---------------------------------------------------------------------------------------

    def run_once(
        self, *, limit: int = 100, on_case: Callable[[CaseOutcome], None] | None = None
    ) -> IntakeReport:
        """Pull what is pending (until nothing new comes), apply, acknowledge; then poll statuses."""
        started = time.perf_counter()
        report = IntakeReport()
        seen: set[str] = set()
        window = limit
        while True:
            pulled = self.client.pull_cases(window)
            batch = [c for c in pulled if str(c.get("case_id")) not in seen]
            if not batch:
                # Everything returned was seen (deferred cases stay at the head of the queue):
                # widen the window to reach the cases behind them, up to the platform's maximum.
                if len(pulled) < window or window >= MAX_PULL:
                    break
                window = min(window * 2, MAX_PULL)
                continue
            for raw in batch:
                seen.add(str(raw.get("case_id")))
                report.pulled += 1
                outcome = self.process(raw)
                report.add(outcome)
                if outcome.outcome != "deferred" and outcome.case_id:
                    self.client.ack_case(outcome.case_id, user_id=self.user_id)
                if on_case is not None:
                    on_case(outcome)
        report.statuses_enqueued = report.written + report.duplicates + report.returned
        errors = self.poll_errors
        report.statuses_enqueued += self.poll_statuses()
        report.poll_errors = self.poll_errors - errors
        report.seconds = time.perf_counter() - started
        return report

    def poll_statuses(self) -> int:
        """Ask each connector for legacy status changes since its bookmark; enqueue new ones.

        A legacy system that cannot answer is logged and counted in ``poll_errors``; statuses
        enqueued before the failure stay, and the bookmark advances only past what was read.
        Only cases this bridge wrote into the legacy system are reported: a system that exports
        every case it holds (a drop file of all cases) does not leak the others to the platform,
        nor send statuses the platform would refuse for cases it never sent.
        """
        enqueued = 0
        names = sorted({h.connector.name for h in self.handlers.values()})
        for name in names:
            connector = self._connector(name)
            since = self.journal.bookmark(name)
            newest = since
            try:
                for update in connector.poll_status(since):
                    if update.at is not None and (newest is None or update.at > newest):
                        newest = update.at
                    if self.journal.finished(update.case_id) not in _WRITTEN:
                        continue
                    if self.journal.status_sent(update.case_id, update.status.value):
                        continue
                    self.outbox.enqueue_status(
                        update.case_id,
                        update.status.value,
                        result=update.result,
                        reasons=update.reasons or None,
                        user_id=self.user_id,
                        within=self.journal.status_marker(update.case_id, update.status.value),
                    )
                    enqueued += 1
            except Exception as exc:  # the legacy system is down: poll again next round
                log.warning("status poll of %s failed: %s: %s", name, type(exc).__name__, exc)
                self.poll_errors += 1
            if newest is not None and newest != since:
                self.journal.set_bookmark(name, newest)
        return enqueued

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        for connector in self._connectors.values():
            connector.close()
        if self._owns_journal:
            self.journal.close()
