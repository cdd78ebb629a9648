"""Declarative mappings from a case (办件) to a legacy system's input — the end of re-typing.

A mapping says, for each field of the legacy input, where its value comes from and how to turn it
into what the legacy system expects::

    mapping = {
        "sqbh": From("case_id"),
        "xm":   From("applicant.name"),
        "xb":   From("form.gender").code("gender"),            # 男 → 1 (GB/T 2261.1)
        "csrq": From("form.birth_date").date("%Y%m%d"),        # 1990-05-01 → 19900501
        "dz":   Concat(From("form.city"), From("form.street")),
        "sheng": From("form.address").split(" ", 0),
        "ly":   Const("一窗受理"),
        "bz":   Compute(lambda case: f"{len(case.materials)} 份材料"),
    }

Mappings are checked when the plugin loads (a target field that does not exist, a required legacy
field left unmapped, an unknown code table or transform) and, per case, every failing field is
reported at once with the target field, the source path and the rule.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel

from .._exceptions import GovConnectError, InvalidInputError, Problem
from ..catalog.codetables import CodeTable
from .sinks.targets import STRUCTURED, fit_target, value_kind

__all__ = [
    "Compute",
    "Concat",
    "Const",
    "Expr",
    "From",
    "MappingContext",
    "apply_mapping",
    "mapping_problems",
]

_MISSING: Any = object()
_NOT_JOINABLE = (bool, *STRUCTURED)
"""What ``Concat`` refuses: joined, it would read ``True`` or ``{'street': '建国路'}``."""


class _StepFailed(GovConnectError):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def _shape_failure(value: Any, where: str, wanted: str = "a single value") -> _StepFailed:
    """An object or a list where no text step (split, slice, format, a code table…) and no join
    may take one: it would come out as Python's ``str()`` of it (``"山西省{'street': '建国路'}"``).
    The citizen's form is at fault, so this returns the case rather than failing as a bug."""
    return _StepFailed("type", f"{where} is {value_kind(value)} where {wanted} is expected")


@dataclasses.dataclass(frozen=True)
class MappingContext:
    """What a mapping may consult: the case, code tables and named transforms."""

    case: BaseModel
    data: Mapping[str, Any]
    code_tables: Mapping[str, CodeTable]
    transforms: Mapping[str, Callable[..., Any]]

    @classmethod
    def for_case(
        cls,
        case: BaseModel,
        code_tables: Mapping[str, CodeTable] | None = None,
        transforms: Mapping[str, Callable[..., Any]] | None = None,
    ) -> MappingContext:
        return cls(case, case.model_dump(), code_tables or {}, transforms or {})


@dataclasses.dataclass(frozen=True)
class _Step:
    name: str
    args: tuple[Any, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()


@dataclasses.dataclass(frozen=True)
class Expr:
    """A value source plus a chain of steps. Steps return a new expression (immutable)."""

    steps: tuple[_Step, ...] = ()

    # --- the chainable steps ---------------------------------------------------------------------

    def _then(self, name: str, *args: Any, **options: Any) -> Any:
        step = _Step(name, args, tuple(sorted(options.items())))
        clone = copy.copy(self)
        object.__setattr__(clone, "steps", (*self.steps, step))
        return clone

    def date(self, fmt: str = "%Y%m%d") -> Any:
        """Format a date / datetime (or an ISO string) with ``strftime``."""
        return self._then("date", fmt)

    def number(self, places: int | None = None) -> Any:
        """A number (or numeric string) as ``Decimal`` rounded to ``places`` (0 → ``int``)."""
        return self._then("number", places)

    def format(self, spec: str) -> Any:
        """``format(value, spec)``: ``"08d"``, ``".2f"``… for legacy systems that want text."""
        return self._then("format", spec)

    def code(self, table: str) -> Any:
        """Translate a label or alias into its code through the named code table."""
        return self._then("code", table)

    def label(self, table: str) -> Any:
        """Translate a code into its label through the named code table."""
        return self._then("label", table)

    def transform(self, name: str, **options: Any) -> Any:
        """Apply a transform contributed by a plugin (``register_transforms``)."""
        return self._then("transform", name, **options)

    def split(self, sep: str, index: int) -> Any:
        """Part ``index`` of the value split on ``sep``."""
        return self._then("split", sep, index)

    def slice(self, start: int, stop: int | None = None) -> Any:
        return self._then("slice", start, stop)

    def strip(self) -> Any:
        return self._then("strip")

    def upper(self) -> Any:
        return self._then("upper")

    def default(self, value: Any) -> Any:
        """Use ``value`` when the source is missing or empty."""
        return self._then("default", value)

    # --- evaluation --------------------------------------------------------------------------------

    def source(self, ctx: MappingContext) -> Any:
        return None

    def describe(self) -> str:
        return type(self).__name__

    def evaluate(self, ctx: MappingContext) -> Any:
        value = self.source(ctx)
        for step in self.steps:
            if step.name == "default":
                if value is _MISSING or value is None or value == "":
                    value = step.args[0]
                continue
            if value is _MISSING or value is None:
                continue
            if isinstance(value, STRUCTURED) and step.name != "transform":
                raise _shape_failure(value, self.describe())  # the citizen's form, not our bug
            value = _apply(step, value, ctx)
        return value

    def references(self) -> list[tuple[str, str]]:
        """``(kind, name)`` of code tables and transforms this expression uses (checked at load)."""
        refs = [("code table", s.args[0]) for s in self.steps if s.name in ("code", "label")] + [
            ("transform", s.args[0]) for s in self.steps if s.name == "transform"
        ]
        return refs


def _apply(step: _Step, value: Any, ctx: MappingContext) -> Any:
    name, args = step.name, step.args
    if name == "date":
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise _StepFailed("date", f"{value!r} is not an ISO date") from None
        if not isinstance(value, date):
            raise _StepFailed("date", f"{value!r} is not a date")
        return value.strftime(args[0])
    if name == "number":
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise _StepFailed("number", f"{value!r} is not a number") from None
        if not number.is_finite():
            raise _StepFailed("number", f"{value!r} is not a finite number")
        places = args[0]
        if places is None:
            return number
        quantized = number.quantize(Decimal(1).scaleb(-places))
        return int(quantized) if places == 0 else quantized
    if name == "format":
        try:
            return format(value, args[0])
        except (ValueError, TypeError) as exc:
            raise _StepFailed("format", f"cannot format {value!r} as {args[0]!r}: {exc}") from None
    if name in ("code", "label"):
        table = ctx.code_tables.get(args[0])
        if table is None:
            raise _StepFailed("code_table.unknown", f"no code table named {args[0]!r}")
        try:
            return table.code_for(value) if name == "code" else table.label_for(value)
        except InvalidInputError as exc:
            raise _StepFailed("code_table", exc.problems[0].message) from None
    if name == "transform":
        fn = ctx.transforms.get(args[0])
        if fn is None:
            raise _StepFailed("transform.unknown", f"no transform named {args[0]!r}")
        try:
            return fn(value, **dict(step.options))
        except Exception as exc:
            raise _StepFailed("transform", f"{args[0]}: {type(exc).__name__}: {exc}") from None
    if name == "split":
        parts = str(value).split(args[0])
        try:
            return parts[args[1]]
        except IndexError:
            raise _StepFailed(
                "split", f"{value!r} has {len(parts)} part(s) split on {args[0]!r}"
            ) from None
    if name == "slice":
        return str(value)[args[0] : args[1]]
    if name == "strip":
        return str(value).strip()
    if name == "upper":
        return str(value).upper()
    raise _StepFailed("step.unknown", f"unknown step {name!r}")  # pragma: no cover


@dataclasses.dataclass(frozen=True)
class From(Expr):
    """The value at a dotted path in the case (``applicant.citizen_id``, ``materials.0.name``)."""

    path: str = ""
    required: bool = True

    def __init__(self, path: str, *, required: bool = True) -> None:
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "required", required)
        object.__setattr__(self, "steps", ())

    def source(self, ctx: MappingContext) -> Any:
        node: Any = ctx.data
        for part in self.path.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, Sequence) and not isinstance(node, str) and part.isdigit():
                index = int(part)
                if index >= len(node):
                    return _MISSING
                node = node[index]
            else:
                return _MISSING
        return node

    def evaluate(self, ctx: MappingContext) -> Any:
        value = super().evaluate(ctx)
        if value is _MISSING or (value is None and self.required):
            if self.required:
                raise _StepFailed("required", f"the case has no value at {self.path!r}")
            return None
        return value

    def describe(self) -> str:
        return self.path


@dataclasses.dataclass(frozen=True)
class Const(Expr):
    """A constant the legacy system needs (a channel code, an office code)."""

    value: Any = None

    def __init__(self, value: Any) -> None:
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "steps", ())

    def source(self, ctx: MappingContext) -> Any:
        return self.value

    def describe(self) -> str:
        return f"const {self.value!r}"


@dataclasses.dataclass(frozen=True)
class Concat(Expr):
    """Several values joined with ``sep``; missing optional parts are left out."""

    parts: tuple[Expr, ...] = ()
    sep: str = ""

    def __init__(self, *parts: Expr, sep: str = "") -> None:
        object.__setattr__(self, "parts", parts)
        object.__setattr__(self, "sep", sep)
        object.__setattr__(self, "steps", ())

    def source(self, ctx: MappingContext) -> Any:
        texts = []
        for part in self.parts:
            value = part.evaluate(ctx)
            if value is None or value is _MISSING or value == "":
                continue
            if isinstance(value, _NOT_JOINABLE):
                raise _shape_failure(value, part.describe(), "text to join")
            texts.append(str(value))
        return self.sep.join(texts)

    def describe(self) -> str:
        return "concat(" + ", ".join(p.describe() for p in self.parts) + ")"

    def references(self) -> list[tuple[str, str]]:
        return [r for p in self.parts for r in p.references()] + super().references()


@dataclasses.dataclass(frozen=True)
class Compute(Expr):
    """A Python hook for what a mapping cannot say: ``fn(case) -> value``."""

    fn: Callable[[Any], Any] | None = None

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "steps", ())

    def source(self, ctx: MappingContext) -> Any:
        assert self.fn is not None
        try:
            return self.fn(ctx.case)
        except Exception as exc:
            raise _StepFailed("compute", f"{type(exc).__name__}: {exc}") from None

    def describe(self) -> str:
        return f"compute {getattr(self.fn, '__name__', 'fn')}"


def mapping_problems(
    mapping: Mapping[str, Expr],
    target: Mapping[str, bool],
    *,
    where: str,
    target_name: str,
    code_tables: Mapping[str, CodeTable] | None = None,
    transforms: Mapping[str, Callable[..., Any]] | None = None,
) -> list[Problem]:
    """Load-time check of a mapping against the legacy input's fields (name → required)."""
    problems: list[Problem] = []
    for name, expr in mapping.items():
        if not isinstance(expr, Expr):
            problems.append(
                Problem(f"{where}.{name}", "mapping.expression", "map to From/Const/Concat/Compute")
            )
            continue
        if name not in target:
            problems.append(
                Problem(
                    f"{where}.{name}",
                    "mapping.unknown_target",
                    f"target field {name!r} does not exist in {target_name} "
                    f"(mapped from {expr.describe()})",
                )
            )
        for kind, ref in expr.references():
            known = code_tables if kind == "code table" else transforms
            if known is not None and ref not in known:
                problems.append(
                    Problem(
                        f"{where}.{name}",
                        f"mapping.unknown_{kind.replace(' ', '_')}",
                        f"{kind} {ref!r} is not registered",
                    )
                )
    for name, required in target.items():
        if required and name not in mapping:
            problems.append(
                Problem(
                    f"{where}.{name}",
                    "mapping.required_unmapped",
                    f"required field {name!r} of {target_name} is not mapped",
                )
            )
    return problems


def apply_mapping(
    mapping: Mapping[str, Expr],
    ctx: MappingContext,
    *,
    where: str = "mapping",
    target: Any = None,
) -> dict[str, Any]:
    """The legacy input for one case; every failing field reported at once.

    With ``target`` (the handler's declared legacy input: a table, a model, a layout) the values
    are also checked against its limits (:func:`~.sinks.targets.fit_target`), each problem naming
    the target field and the case field it came from, and converted as the target takes them.
    """
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, expr in mapping.items():
        try:
            values[name] = expr.evaluate(ctx)
        except _StepFailed as exc:
            problems.append(
                Problem(f"{where}.{name}", exc.rule, f"{exc.message} (from {expr.describe()})")
            )
    if problems:
        raise InvalidInputError(problems, summary="the case cannot be mapped")
    if target is None:
        return values
    try:
        return fit_target(target, values)
    except InvalidInputError as exc:
        raise InvalidInputError(
            [_from_source(p, mapping, where) for p in exc.problems],
            summary="the case does not fit the legacy input",
        ) from None


def _from_source(problem: Problem, mapping: Mapping[str, Expr], where: str) -> Problem:
    """A target's problem, named as a mapping problem: the target field and its source."""
    name = problem.field.split(".", 1)[0]
    expr = mapping.get(name)
    if expr is None:
        return problem
    return Problem(
        f"{where}.{problem.field}", problem.rule, f"{problem.message} (from {expr.describe()})"
    )
