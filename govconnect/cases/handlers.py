"""Intake handlers: per matter code (事项编码), how a case becomes input for the legacy system.

Declared on a connector next to its services::

    class Household(Connector):
        @intake(matter_code="11010500000-HJ-0001", name="户口迁入登记",
                target=applications_table,          # what the legacy input looks like
                mapping={"sqbh": From("case_id"), "xm": From("applicant.name"), ...},
                min_auth_level="L2")             # optional: how the applicant must have logged in
        def move_in(self) -> Sink:
            return DatabaseSink(self.engine, applications_table, key="sqbh")

The mapping is checked against ``target`` when the plugin loads; the method builds the sink from the
connector's settings when the bridge first needs it. ``min_auth_level`` (``L1``–``L4``, see
:mod:`.auth`) returns a case whose applicant authenticated below it, before anything is written.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from .._exceptions import ConfigurationError, Problem
from .auth import below_minimum, check_auth_level
from .case import Case, CaseStatus
from .mapping import Expr, mapping_problems
from .sinks import Sink, target_fields

__all__ = ["HandlerOwner", "IntakeHandler", "StatusUpdate", "inspect_handlers", "intake"]

F = TypeVar("F", bound=Callable[..., Any])


class HandlerOwner(Protocol):
    """What intake needs of the class that declares ``@intake`` handlers: its name.

    That class is a connector (``govconnect.Connector``), but the connector framework builds on this
    package, so this package names only what it uses and never imports the connector.
    """

    name: ClassVar[str]


@dataclass(frozen=True)
class StatusUpdate:
    """A status change of a case inside the legacy system, to be reported back to the platform."""

    case_id: str
    status: CaseStatus
    result: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    at: datetime | None = None


@dataclass(frozen=True)
class _IntakeDeclaration:
    matter_code: str
    name: str
    mapping: Mapping[str, Expr]
    target: Any
    target_name: str | None
    min_auth_level: str | None = None


@dataclass(frozen=True)
class IntakeHandler:
    """A validated intake handler of a connector class."""

    connector: type[HandlerOwner]
    method: str
    matter_code: str
    name: str
    mapping: Mapping[str, Expr]
    target: dict[str, bool]
    target_name: str
    declared: Any = None
    """The legacy input as declared (a table, a model, a layout): each case's values are checked
    against its limits before the sink writes them."""
    min_auth_level: str | None = None
    """The lowest applicant authentication level this matter takes (``None``: any, even none)."""

    def auth_problem(self, case: Case) -> Problem | None:
        """Why ``case`` must be returned for its applicant's authentication level, or ``None``."""
        label = f"{self.matter_code} ({self.name})" if self.name else self.matter_code
        return below_minimum(case.applicant_auth, self.min_auth_level, matter=label)

    def sink(self, connector: HandlerOwner) -> Sink:
        """Build this handler's sink for an instance of its connector class."""
        sink = getattr(connector, self.method)()
        if not isinstance(sink, Sink):
            raise TypeError(f"{self.connector.name}.{self.method} returned {sink!r}, not a Sink")
        return sink


def intake(
    *,
    matter_code: str,
    name: str,
    mapping: Mapping[str, Expr],
    target: Any,
    target_name: str | None = None,
    min_auth_level: str | None = None,
) -> Callable[[F], F]:
    """Declare an intake handler; the decorated method returns the :class:`Sink` to write into.

    ``min_auth_level``: the lowest level (``L1``–``L4``) at which the applicant must have logged
    in at the one window; a case below it is returned naming the rule. An unknown level is a
    :class:`ConfigurationError` here, naming the parameter, so a typo never runs as "no minimum".
    """

    def mark(fn: F) -> F:
        if min_auth_level is not None:
            try:
                check_auth_level(min_auth_level, where="min_auth_level")
            except ValueError as exc:
                raise ConfigurationError(f"@intake on {fn.__qualname__}: {exc}") from None
        fn.__govconnect_intake__ = _IntakeDeclaration(  # type: ignore[attr-defined]
            matter_code, name, dict(mapping), target, target_name, min_auth_level
        )
        return fn

    return mark


def inspect_handlers(cls: type[HandlerOwner]) -> tuple[dict[str, IntakeHandler], list[Problem]]:
    """The connector's intake handlers by matter code, and every problem of their declarations."""
    handlers: dict[str, IntakeHandler] = {}
    problems: list[Problem] = []
    for attr, fn in inspect.getmembers(cls, predicate=inspect.isfunction):
        decl: _IntakeDeclaration | None = getattr(fn, "__govconnect_intake__", None)
        if decl is None:
            continue
        where = f"{cls.name}.{attr}"
        try:
            fields = target_fields(decl.target)
        except TypeError as exc:
            problems.append(Problem(f"{where}.target", "intake.target", str(exc)))
            continue
        tname = (
            decl.target_name
            or getattr(decl.target, "name", None)
            or getattr(decl.target, "__name__", "the legacy input")
        )
        problems.extend(
            mapping_problems(decl.mapping, fields, where=f"{where}.mapping", target_name=str(tname))
        )
        if not decl.matter_code.strip():
            problems.append(
                Problem(f"{where}.matter_code", "intake.matter_code", "must not be blank")
            )
        if decl.matter_code in handlers:
            problems.append(
                Problem(
                    f"{where}.matter_code",
                    "intake.matter_code_unique",
                    f"matter {decl.matter_code!r} already handled by {handlers[decl.matter_code].method}",
                )
            )
            continue
        handlers[decl.matter_code] = IntakeHandler(
            cls,
            attr,
            decl.matter_code,
            decl.name,
            decl.mapping,
            fields,
            str(tname),
            decl.target,
            decl.min_auth_level,
        )
    return handlers, problems


def no_status_updates(since: datetime | None) -> Iterator[StatusUpdate]:
    """The default status poll of a connector: a legacy system that reports nothing by itself."""
    return iter(())
