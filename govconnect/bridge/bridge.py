"""The intake bridge: cases from the one window reach the legacy system without re-entry.

For every case the platform hands this node::

    pull → validate (identity numbers, materials) → map (per matter code) → write (sink)
         → status "accepted" (or "returned" with reasons) into the outbox → journal → acknowledge

Each case is its own unit of work: a case that fails validation or mapping, or that the legacy
system refuses, is *returned* to the platform with a reason per field and rule and never blocks the
cases behind it; a case the legacy system cannot take right now (database down) is left
unacknowledged so the platform hands it over again. Sinks are idempotent by case id, and the
intake journal — tables in the outbox's own store (SQLite file or PostgreSQL schema), written in
the same transaction as the status that reports the case — remembers finished cases, so a
redelivered case is acknowledged again but never written or reported twice.

Two bridges for one node (an HA pair of ``intake run`` processes sharing a PostgreSQL outbox)
take turns per case: each claims a case in the journal before writing it (a lease of
``claim_lease`` seconds), and a case the other one holds is left alone, unacknowledged
(``claimed_elsewhere``): if its holder dies, the platform hands it over again and the claim
expires.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
import uuid
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
from ..exchange.outbox.store import Outbox
from .commit import CommitMode, open_sink, open_sinks, write_and_report
from .journal import AlreadyReported, IntakeJournal
from .report import CaseOutcome, IntakeReport, auth_of

if TYPE_CHECKING:
    from .._registry import Registry

__all__ = ["IntakeBridge", "fingerprint", "identify", "safe_text"]

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
        within: Callable[[Any], None] | None = None,
    ) -> int: ...

    @property
    def path(self) -> Path | str: ...


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
        claim_lease: float = 60.0,
    ) -> None:
        self._owns_journal = journal is None
        if journal is None:
            journal = IntakeJournal(outbox if isinstance(outbox, Outbox) else outbox.path)
        if not _same_store(journal.path, outbox.path):
            raise ConfigurationError(
                f"the intake journal ({journal.path}) must live in the outbox file or schema"
                f" ({outbox.path}): its rows commit with the status"
            )
        self.registry, self.client, self.outbox, self.journal = registry, client, outbox, journal
        self.user_id = user_id
        self.max_attempts = max_attempts
        self.claim_lease = claim_lease
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        """Who this bridge is in ``intake_claims`` (host, process, instance)."""
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
        self.commit_modes: dict[str, CommitMode] = {}  # per matter code (see ``commit``)
        self.poll_errors = 0

    # --- one case -------------------------------------------------------------------------------------

    def _connector(self, name: str) -> Connector:
        if name not in self._connectors:
            given = self._settings.get(name)
            self._connectors[name] = self.registry.connector(name, given)
        return self._connectors[name]

    def _sink(self, handler: IntakeHandler) -> Sink:
        if handler.matter_code not in self._sinks:
            self._sinks[handler.matter_code] = open_sink(self, handler)
        return self._sinks[handler.matter_code]

    def open_sinks(self) -> dict[str, CommitMode]:
        """Open the sinks now (``run_once`` does first); how each commits a case with its status."""
        return open_sinks(self)

    def process(self, raw: Any) -> CaseOutcome:
        """Apply one pulled element; never raises. The case's own faults return it with reasons;
        a failure on our side defers it (and returns it after ``max_attempts``); an element the
        contract does not allow (not an object, no usable id) is ``malformed``: reported once,
        remembered, never acknowledged (it cannot be named) and skipped in later rounds."""
        case_id, problem = identify(raw)
        if problem is not None:
            return self._malformed(raw, problem)
        assert case_id is not None
        matter = raw.get("matter_code")
        matter = safe_text(matter) if isinstance(matter, str) else ""
        try:
            return self._process(case_id, matter, raw)
        except Exception as exc:  # the journal, the outbox, a bug: this case only, never the round
            try:
                return self._internal_failure(case_id, matter, "bridge", exc)
            except Exception:
                log.exception("case %r: could not even count the failure", safe_text(case_id))
                return CaseOutcome(
                    safe_text(case_id),
                    matter,
                    "deferred",
                    [Problem("case", "internal", type(exc).__name__)],
                )

    def _process(self, case_id: str, matter: str, raw: Mapping[str, Any]) -> CaseOutcome:
        """Claim the case, apply it; the claim ends with its status (in the same transaction),
        or is given back when the case is deferred or turns out finished elsewhere."""
        if self.journal.finished(case_id):
            return CaseOutcome(case_id, matter, "already_processed")
        if not self.journal.claim(case_id, self.owner, self.claim_lease):
            problem = Problem("case", "claimed", "another intake process is working on it")
            return CaseOutcome(case_id, matter, "claimed_elsewhere", [problem])
        try:
            outcome = self._claimed(case_id, matter, raw)
        except BaseException:
            self.journal.release(case_id, self.owner)
            raise
        if outcome.outcome in ("deferred", "already_processed"):
            self.journal.release(case_id, self.owner)
        return outcome

    def _claimed(self, case_id: str, matter: str, raw: Mapping[str, Any]) -> CaseOutcome:
        if self.journal.finished(case_id):  # the other node finished it before our claim
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
        below = handler.auth_problem(case)  # the matter's minimum level: before any write
        if below is not None:
            return self._return(case_id, matter, [below], case)
        where = f"{handler.connector.name}.{handler.method}"
        try:
            ctx = MappingContext.for_case(case, self.registry.code_tables, self.registry.transforms)
            values = apply_mapping(handler.mapping, ctx, target=handler.declared)
            return write_and_report(self, handler, case_id, values, **auth_of(case))  # ``commit``
        except RetryableError as exc:
            log.warning("case %r deferred: %s", case_id, exc)
            return CaseOutcome(
                case_id, matter, "deferred", [Problem("sink", "retryable", str(exc))]
            )
        except InvalidInputError as exc:  # the case does not fit: the citizen's to fix
            return self._return(case_id, matter, exc.problems, case)
        except Exception as exc:  # our side failed (a bug, a misconfigured sink), not the case
            return self._internal_failure(case_id, matter, where, exc, case)

    def _report(
        self,
        outcome: CaseOutcome,
        status: str,
        *,
        result: Mapping[str, Any],
        reasons: list[str] | None = None,
    ) -> CaseOutcome:
        """Queue the case's status with its journal row; a case whose status cannot be queued
        (the outbox's disk is full) stays unfinished and unacknowledged: it comes back next round
        and, its legacy write being idempotent, is reported then."""
        try:
            self.outbox.enqueue_status(
                outcome.case_id,
                status,
                result=result,
                reasons=reasons,
                user_id=self.user_id,
                within=self.journal.recorder(outcome, status),
            )
        except AlreadyReported:  # the other node of an HA pair reported it first
            return CaseOutcome(outcome.case_id, outcome.matter_code, "already_processed")
        except Exception as exc:
            log.error("case %r: status not queued: %s", outcome.case_id, type(exc).__name__)
            kind = type(exc).__name__  # only the type: a driver's message may quote parameters
            problem = Problem("status", "outbox", f"the status could not be queued ({kind})")
            return CaseOutcome(outcome.case_id, outcome.matter_code, "deferred", [problem])
        return outcome

    def _malformed(self, raw: Any, problem: Problem) -> CaseOutcome:
        """An element the contract does not allow; remembered so later rounds skip it."""
        found = raw.get("case_id") if isinstance(raw, Mapping) else None
        shown = safe_text(found) if isinstance(found, str) else ""
        log.error("malformed element in the pulled cases: %s", problem)
        try:
            self.journal.record_malformed(fingerprint(raw), str(problem))
        except Exception as exc:  # reported again next round, which is all this costs
            log.warning("malformed element not remembered: %s", type(exc).__name__)
        return CaseOutcome(shown, "", "malformed", [problem])

    def _internal_failure(
        self, case_id: str, matter: str, where: str, exc: Exception, case: Case | None = None
    ) -> CaseOutcome:
        """Defer a case that failed on our side; return it only once it has failed
        ``max_attempts`` times, so a poison case neither blocks the others nor loops forever.

        Only the exception's type travels (to logs, the journal and the citizen): driver messages
        carry parameters, and parameters carry citizen IDs.
        """
        attempts = self.journal.count_attempt(case_id)
        kind = type(exc).__name__
        log.error("case %r failed in %s: %s (attempt %d)", case_id, where, kind, attempts)
        if attempts < self.max_attempts:
            return CaseOutcome(case_id, matter, "deferred", [Problem("case", "internal", kind)])
        problem = Problem(
            "case", "internal", f"the department's system failed {attempts} times ({kind})"
        )
        return self._return(case_id, matter, [problem], case)

    def _return(
        self, case_id: str, matter: str, problems: list[Problem], case: Case | None = None
    ) -> CaseOutcome:
        problems = [
            Problem(safe_text(p.field), safe_text(p.rule), safe_text(p.message)) for p in problems
        ]
        outcome = CaseOutcome(case_id, matter, "returned", problems, **auth_of(case))
        return self._report(
            outcome,
            CaseStatus.RETURNED.value,
            result={"problems": [p.as_dict() for p in problems]},
            reasons=[str(p) for p in problems],
        )

    # --- rounds ---------------------------------------------------------------------------------------

    def run_once(
        self, *, limit: int = 100, on_case: Callable[[CaseOutcome], None] | None = None
    ) -> IntakeReport:
        """Pull what is pending (until nothing new comes), apply, acknowledge; then poll statuses.

        One case never aborts the round: whatever goes wrong with it (its validation, mapping,
        write, status or acknowledgement) is counted in the report and the next case goes on.
        """
        started = time.perf_counter()
        if self._sinks.keys() != self.handlers.keys():  # at the start, or one failed to open
            self.open_sinks()
        report = IntakeReport()
        seen: set[tuple[str, str]] = set()
        window = limit
        while True:
            pulled = self.client.pull_cases(window)
            batch = []
            for raw in pulled:
                key = _seen_key(raw)
                if key not in seen:
                    seen.add(key)
                    batch.append((raw, key))
            if not batch:
                # Everything returned was seen (deferred cases stay at the head of the queue):
                # widen the window to reach the cases behind them, up to the platform's maximum.
                if len(pulled) < window or window >= MAX_PULL:
                    break
                window = min(window * 2, MAX_PULL)
                continue
            for raw, key in batch:
                if key[0] == "element" and self._known_malformed(key[1]):
                    report.ignored += 1  # reported in an earlier round
                    continue
                report.pulled += 1
                outcome = self.process(raw)
                report.add(outcome)
                if outcome.outcome not in ("deferred", "malformed", "claimed_elsewhere"):
                    self._acknowledge(outcome, report)
                if on_case is not None:
                    on_case(outcome)
        report.statuses_enqueued = report.written + report.duplicates + report.returned
        errors = self.poll_errors
        report.statuses_enqueued += self.poll_statuses()
        report.poll_errors = self.poll_errors - errors
        report.seconds = time.perf_counter() - started
        return report

    def _known_malformed(self, digest: str) -> bool:
        try:
            return self.journal.malformed_known(digest)
        except Exception:
            return False

    def _acknowledge(self, outcome: CaseOutcome, report: IntakeReport) -> None:
        """Acknowledge a finished case. A failed ack is counted, not fatal: the case is in the
        journal, so the platform's redelivery is acknowledged next round without a second write."""
        try:
            self.client.ack_case(outcome.case_id, user_id=self.user_id)
        except Exception as exc:
            report.ack_failures += 1
            outcome.problems.append(Problem("ack", "platform", f"{type(exc).__name__}: {exc}"))
            log.warning("case %r not acknowledged: %s", outcome.case_id, type(exc).__name__)

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
                    try:
                        self.outbox.enqueue_status(
                            update.case_id,
                            update.status.value,
                            result=update.result,
                            reasons=update.reasons or None,
                            user_id=self.user_id,
                            within=self.journal.status_marker(update.case_id, update.status.value),
                        )
                    except AlreadyReported:  # the other node of an HA pair was first
                        continue
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


def _same_store(journal: Path | str, outbox: Path | str) -> bool:
    """Whether the journal and the outbox are one store: one file, or one PostgreSQL schema
    (their shown URLs name the server, database and schema)."""
    if isinstance(journal, Path) and isinstance(outbox, Path):
        return journal.resolve() == outbox.resolve()
    return str(journal) == str(outbox)


def identify(raw: Any) -> tuple[str | None, Problem | None]:
    """The case id of a pulled element, or why the element breaks the contract.

    The contract allows any non-empty text as a case id (``办件-0001``, ``a/b``, ``..``, spaces,
    control characters): it travels percent-encoded. It does not allow an element that is not an
    object, a missing, empty or non-text id, or an id with no UTF-8 form (a lone surrogate, which
    JSON's ``\\ud800`` escape can smuggle in): such an element cannot be named in any request, so it
    can be neither acknowledged nor returned.
    """
    if not isinstance(raw, Mapping):
        kind = "a list" if isinstance(raw, list) else type(raw).__name__
        return None, Problem("case", "type", f"a pulled case is a JSON object, not {kind}")
    case_id = raw.get("case_id")
    if case_id is None or case_id == "":
        return None, Problem("case_id", "required", "the pulled case has no case id")
    if not isinstance(case_id, str):
        return None, Problem("case_id", "type", "the case id is not text")
    try:
        case_id.encode("utf-8")
    except UnicodeEncodeError:
        shown = safe_text(case_id)
        return None, Problem(
            "case_id", "unicode", f"{shown!r} has no UTF-8 form (a lone surrogate)"
        )
    return case_id, None


def safe_text(text: str) -> str:
    """Text that can go anywhere (the journal, the outbox, a terminal, JSON output): a lone
    surrogate becomes its escape ``\\ud800``."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def fingerprint(raw: Any) -> str:
    """A stable digest of a pulled element, to remember a malformed one that has no usable id."""
    try:
        text = json.dumps(raw, sort_keys=True, ensure_ascii=True, default=repr)
    except (TypeError, ValueError, RecursionError):
        text = repr(type(raw))
    return hashlib.sha256(text.encode()).hexdigest()


def _seen_key(raw: Any) -> tuple[str, str]:
    """What a round tracks to take each pulled element once: its id, or its fingerprint."""
    case_id, problem = identify(raw)
    return (
        ("case", case_id)
        if problem is None and case_id is not None
        else ("element", fingerprint(raw))
    )
