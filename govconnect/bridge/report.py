"""What became of the cases of an intake round: one outcome per case, and the round's totals.

``IntakeBridge.run_once`` answers an :class:`IntakeReport`; the journal records each finished
case's :class:`CaseOutcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

from .._exceptions import Problem
from ..cases.auth import ApplicantAuth
from ..cases.case import Case

__all__ = ["CaseOutcome", "IntakeReport", "auth_of"]


Outcome = Literal[
    "written",
    "duplicate",
    "already_processed",
    "returned",
    "deferred",
    "malformed",
    "claimed_elsewhere",
]
"""``malformed``: a pulled element the contract does not allow (not an object, no usable case id);
it cannot be named in a request, so it is reported once, remembered and skipped afterwards.
``claimed_elsewhere``: the other intake process of an HA pair is working on the case; left to it
(not acknowledged: if that process dies, the case comes back)."""


@dataclass
class CaseOutcome:
    """What happened to one case."""

    case_id: str
    matter_code: str
    outcome: Outcome
    problems: list[Problem] = field(default_factory=list)
    reference: str | None = None
    fields_filled: int = 0
    auth_level: str | None = None
    """How the applicant authenticated at the one window (``none`` for a case without a block);
    ``None`` when the case never validated, so its level is not known."""
    auth: ApplicantAuth | None = None
    """The case's authentication block (issuer, level, method, time), kept in the journal."""


def auth_of(case: Case | None) -> dict[str, Any]:
    """The :class:`CaseOutcome` fields of a case's applicant authentication, for the journal
    (nothing for a case that never validated: its level is not known)."""
    if case is None:
        return {}
    return {"auth_level": case.auth_level, "auth": case.applicant_auth}


@dataclass
class IntakeReport:
    """Totals of one or more intake rounds."""

    pulled: int = 0
    written: int = 0
    duplicates: int = 0
    already_processed: int = 0
    returned: int = 0
    deferred: int = 0
    malformed: int = 0
    """Pulled elements that break the contract, reported for the first time this round."""
    ignored: int = 0
    """Malformed elements reported in an earlier round and skipped (the platform still lists them)."""
    claimed_elsewhere: int = 0
    """Cases the other intake process of an HA pair was working on; left to it."""
    ack_failures: int = 0
    """Finished cases whose acknowledgement failed; acknowledged again when redelivered."""
    statuses_enqueued: int = 0
    poll_errors: int = 0
    """Status polls that failed (the legacy system could not answer); retried next round."""
    fields_filled: int = 0
    seconds: float = 0.0
    outcomes: list[CaseOutcome] = field(default_factory=list)

    def merge(self, other: IntakeReport) -> None:
        """Add another round's totals and outcomes to these."""
        for f in fields(self):
            if f.name != "outcomes":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.outcomes.extend(other.outcomes)

    def add(self, outcome: CaseOutcome) -> None:
        self.outcomes.append(outcome)
        if outcome.outcome == "written":
            self.written += 1
        elif outcome.outcome == "duplicate":
            self.duplicates += 1
        elif outcome.outcome == "already_processed":
            self.already_processed += 1
        elif outcome.outcome == "returned":
            self.returned += 1
        elif outcome.outcome == "malformed":
            self.malformed += 1
        elif outcome.outcome == "claimed_elsewhere":
            self.claimed_elsewhere += 1
        else:
            self.deferred += 1
        self.fields_filled += outcome.fields_filled

    def auth_levels(self) -> dict[str, int]:
        """How many of this round's cases came with each applicant authentication level."""
        levels: dict[str, int] = {}
        for o in self.outcomes:
            if o.auth_level is not None:
                levels[o.auth_level] = levels.get(o.auth_level, 0) + 1
        return dict(sorted(levels.items()))

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "outcomes"}
        data["returned_reasons"] = {
            o.case_id: [str(p) for p in o.problems]
            for o in self.outcomes
            if o.outcome == "returned"
        }
        data["deferred_reasons"] = {
            o.case_id: [str(p) for p in o.problems]
            for o in self.outcomes
            if o.outcome == "deferred"
        }
        data["auth_levels"] = self.auth_levels()
        data["malformed_reasons"] = [
            str(p) for o in self.outcomes if o.outcome == "malformed" for p in o.problems
        ]
        return data
