"""Conformance checks of intake handlers: the mapping covers the legacy input, the sink writes once.

Each intake handler (one per matter code, 事项编码) needs a sample case in the spec
(``sample_cases={matter_code: {...}}``, a case as the one window sends it). The case is validated,
mapped with the code tables and transforms of the installed plugins — as the intake bridge would —
and written into the sample legacy system twice: the first write applies it, the redelivery must
change nothing. Without a sample legacy system (``legacy=``) nothing is written: the write check is
skipped rather than put a sample case into the system the configured settings reach.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .._exceptions import GovConnectError, InvalidInputError, Problem
from .._validation import problems_from_pydantic
from ..cases.case import Case
from ..cases.handlers import IntakeHandler
from ..cases.mapping import MappingContext, apply_mapping, mapping_problems
from ._conformance import (
    ConformanceSession,
    Outcome,
    check,
    failed,
    passed,
    skipped,
    target_label,
)

__all__: list[str] = []


def _mapped(
    session: ConformanceSession, handler: IntakeHandler
) -> tuple[Case, dict[str, Any]] | Outcome:
    """The sample case and its mapped legacy input (computed once per handler)."""
    key = ("intake.mapped", handler.matter_code)
    if key not in session.cache:
        session.cache[key] = _map(session, handler)
    result: tuple[Case, dict[str, Any]] | Outcome = session.cache[key]
    return result


def _map(
    session: ConformanceSession, handler: IntakeHandler
) -> tuple[Case, dict[str, Any]] | Outcome:
    label = target_label(handler)
    raw = session.spec.sample_cases.get(handler.matter_code)
    if raw is None:
        return failed(
            Problem(
                f"{label}.sample_case",
                "conformance.sample_case",
                f"give sample_cases={{{handler.matter_code!r}: {{...}}}}: a case for this matter "
                "as the one window sends it",
            )
        )
    try:
        case = Case.model_validate(raw)
    except ValidationError as exc:
        return failed(*problems_from_pydantic(exc, f"{label}.sample_case"))
    if case.matter_code != handler.matter_code:
        return failed(
            Problem(
                f"{label}.sample_case.matter_code",
                "conformance.sample_case",
                f"the sample case is for matter {case.matter_code!r}, the handler for "
                f"{handler.matter_code!r}",
            )
        )
    below = handler.auth_problem(case)  # the bridge would return it before mapping
    if below is not None:
        return failed(Problem(f"{label}.sample_case.{below.field}", below.rule, below.message))
    reg = session.registry()
    ctx = MappingContext.for_case(case, reg.code_tables, reg.transforms)
    try:
        return case, apply_mapping(handler.mapping, ctx, where=f"{label}.mapping")
    except InvalidInputError as exc:
        return failed(*exc.problems)


@check(
    "intake_mapping",
    "the intake mapping covers the legacy input's required fields and maps the sample case",
    over="intake",
    order=60,
)
def _intake_mapping(session: ConformanceSession, handler: IntakeHandler) -> Outcome:
    reg = session.registry()
    where = f"{target_label(handler)}.mapping"
    problems = mapping_problems(
        handler.mapping,
        handler.target,
        where=where,
        target_name=handler.target_name,
        code_tables=reg.code_tables,
        transforms=reg.transforms,
    )
    if problems:
        return failed(*problems)
    mapped = _mapped(session, handler)
    if isinstance(mapped, Outcome):
        return mapped
    _, values = mapped
    empty = [
        Problem(
            f"{where}.{name}",
            "intake.required_empty",
            f"required field {name!r} of {handler.target_name} is empty for the sample case",
        )
        for name, required in handler.target.items()
        if required and values.get(name) in (None, "")
    ]
    if empty:
        return failed(*empty)
    required = sum(handler.target.values())
    level = f"; applicants at level ≥ {handler.min_auth_level}" if handler.min_auth_level else ""
    return passed(
        f"{len(values)} fields mapped, {required} required, into {handler.target_name}{level}"
    )


@check(
    "intake_writes",
    "the sample case is written into the legacy system once; a redelivery changes nothing",
    over="intake",
    order=70,
)
def _intake_writes(session: ConformanceSession, handler: IntakeHandler) -> Outcome:
    label = target_label(handler)
    if session.spec.legacy is None:
        return skipped(
            "no sample legacy system in the spec (legacy=...): the sample case is only ever "
            "written into a sample, never into the system the settings reach"
        )
    instance = session.connector()
    if isinstance(instance, Outcome):
        return instance
    mapped = _mapped(session, handler)
    if isinstance(mapped, Outcome):
        return mapped
    case, values = mapped
    sink = handler.sink(instance)
    try:
        first = sink.write(case.case_id, values)
        again = sink.write(case.case_id, values)
    except GovConnectError as exc:
        problems = getattr(exc, "problems", None) or [Problem(label, "intake.write", str(exc))]
        return failed(*problems)
    finally:
        sink.close()
    if not first.applied:
        return failed(
            Problem(
                label,
                "intake.not_applied",
                f"the sample case {case.case_id} was not applied (is it in the sample legacy "
                "system already?)",
            )
        )
    if again.applied:
        return failed(
            Problem(
                label,
                "intake.idempotent",
                "a redelivered case was applied again; a sink must be idempotent by case id",
            )
        )
    return passed(f"case {case.case_id} written as {first.reference}")
