"""Targets: what the legacy input looks like, for load-time mapping checks and per-case limits.

:func:`target_fields` reads field names (and which are required) from a SQLAlchemy table, a pydantic
model, a :class:`FixedWidthLayout` (the records a legacy batch system reads; the file-drop sink
writes them), a mapping or a sequence of names. :func:`fit_target` checks one case's values against
the target's own limits (column types and lengths, model constraints, single values for text
fields) before anything is written, so an over-long or wrongly shaped value is a returned case
naming the field, never a truncated column, a stringified object or a driver error.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError

from ..._exceptions import InvalidInputError, Problem
from ..._validation import problems_from_pydantic
from .base import _text
from .fixed_width_io import RecordCountTrailer, parse_line, read_file

__all__ = [
    "STRUCTURED",
    "FixedField",
    "FixedWidthLayout",
    "fit_target",
    "scalar_problems",
    "target_fields",
    "text_problem",
    "value_kind",
]


@dataclass(frozen=True)
class FixedField:
    """One field of a fixed-width record; ``width`` counts bytes in the file's encoding."""

    name: str
    width: int
    align: Literal["left", "right"] = "left"
    pad: str = " "
    required: bool = True
    title: str = ""


@dataclass(frozen=True)
class FixedWidthLayout:
    """A fixed-width record layout, as legacy batch systems read them (widths in bytes)."""

    fields: tuple[FixedField, ...]

    @property
    def record_width(self) -> int:
        return sum(f.width for f in self.fields)

    def encode(self, values: Mapping[str, Any], encoding: str) -> bytes:
        """One record as bytes; a value that does not fit names its field."""
        out = bytearray()
        problems: list[Problem] = []
        for f in self.fields:
            raw = _text(values.get(f.name))
            try:
                data = raw.encode(encoding)
            except UnicodeEncodeError:
                problems.append(
                    Problem(f.name, "encoding", f"{raw!r} cannot be written in {encoding}")
                )
                continue
            if len(data) > f.width:
                problems.append(
                    Problem(
                        f.name,
                        "fixed_width.overflow",
                        f"{len(data)} bytes in {encoding} do not fit the field's {f.width}",
                    )
                )
                continue
            padding = f.pad.encode(encoding) * (f.width - len(data))
            out += data + padding if f.align == "left" else padding + data
        if problems:
            raise InvalidInputError(
                problems, summary="the record does not fit the fixed-width layout"
            )
        return bytes(out)

    def decode(self, record: bytes, encoding: str) -> dict[str, str]:
        """The fields of one record (padding stripped) — the inverse of :meth:`encode`."""
        values: dict[str, str] = {}
        offset = 0
        for f in self.fields:
            chunk = record[offset : offset + f.width].decode(encoding)
            if f.align == "left":
                values[f.name] = chunk.rstrip(f.pad)
            else:  # a zero-padded 0 is "0", not ""
                values[f.name] = chunk.lstrip(f.pad) or chunk[-1:]
            offset += f.width
        return values

    def parse(
        self, line: bytes, encoding: str, where: str = "line", record_type: str | None = None
    ) -> dict[str, str]:
        """One line read strictly: length, record type and encoding checked, ``where`` named in
        the error (see :func:`~govconnect.cases.sinks.fixed_width_io.parse_line`)."""
        return parse_line(self, line, encoding, where, record_type)

    def read(
        self,
        path: Path | str,
        encoding: str,
        *,
        trailer: RecordCountTrailer | None = None,
        record_type: str | None = None,
    ) -> Iterator[tuple[str, dict[str, str] | None]]:
        """Every record of a drop file as ``(file:line, values)``, the trailer count checked
        first (see :func:`~govconnect.cases.sinks.fixed_width_io.read_file`)."""
        return read_file(self, Path(path), encoding, trailer=trailer, record_type=record_type)


def target_fields(target: Any) -> dict[str, bool]:
    """Field name → required, for a SQLAlchemy table, a pydantic model, a fixed-width layout,
    a mapping of name → required, or a sequence of names (all required)."""
    if isinstance(target, sa.Table):
        return {
            c.name: not c.nullable
            and c.default is None
            and c.server_default is None
            and not (c.primary_key and c.autoincrement is True)
            for c in target.columns
        }
    if isinstance(target, type) and issubclass(target, BaseModel):
        return {name: info.is_required() for name, info in target.model_fields.items()}
    if isinstance(target, FixedWidthLayout):
        return {f.name: f.required for f in target.fields}
    if isinstance(target, Mapping):
        return {str(k): bool(v) for k, v in target.items()}
    if isinstance(target, Sequence) and not isinstance(target, str):
        return dict.fromkeys(map(str, target), True)
    raise TypeError(f"cannot read target fields from {target!r}")


# --- the target's own limits, checked before anything is written ---------------------------------

STRUCTURED = (Mapping, list, tuple, set, frozenset, bytes, bytearray)
"""Values that are not one value: never written where a single value is expected."""
_INT_RANGES = {
    sa.SmallInteger: 2**15,
    sa.BigInteger: 2**63,
    sa.Integer: 2**31,
}
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,19}")


def value_kind(value: Any) -> str:
    """What a value is, in the words of the contract (JSON), for error messages."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, bytes | bytearray):
        return "bytes"
    if isinstance(value, datetime | date | time):
        return "a date/time"
    return "text" if isinstance(value, str) else type(value).__name__


def text_problem(value: str) -> str | None:
    """Why text cannot be stored in any legacy system (no UTF-8 form; a NUL, which PostgreSQL
    refuses and C-based readers truncate at), or ``None``."""
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid Unicode text (a lone surrogate)"
    return None


def scalar_problems(values: Mapping[str, Any], *, structures: bool = False) -> list[Problem]:
    """Values a target cannot take: text with no UTF-8 form or a NUL, and — unless the target takes
    ``structures`` (a JSON file or body) — an object or a list, which a text field (a CSV cell, a
    fixed-width field, an XML element) would get as Python's ``str()`` of it
    (``"{'street': '建国路'}"``)."""
    problems = []
    for name, value in values.items():
        if isinstance(value, STRUCTURED) and not structures:
            problems.append(
                Problem(
                    name, "target.type", f"{value_kind(value)} where a single value is expected"
                )
            )
        elif isinstance(value, str) and (why := text_problem(value)):
            problems.append(Problem(name, "target.text", f"the value {why}"))
    return problems


def fit_target(target: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values checked against the legacy target's own limits — SQL column types and lengths
    (SQLite enforces no ``VARCHAR(n)``, MariaDB in non-strict mode truncates: the SDK must), a
    pydantic model's constraints, text-only fields of files — converted where the column type says
    how (an ISO date string for a ``DATE`` column). Raises :class:`InvalidInputError` naming every
    field that does not fit and the rule, so nothing over a limit is ever written."""
    if isinstance(target, sa.Table):
        out, problems = dict(values), []
        for name, value in values.items():
            if name in target.c:
                fitted = _fit_column(target.c[name], value, problems)
                out[name] = fitted
        if problems:
            raise InvalidInputError(problems, summary=f"the case does not fit {target.name}")
        return out
    if isinstance(target, type) and issubclass(target, BaseModel):
        try:
            target.model_validate(dict(values))
        except ValidationError as exc:
            raise InvalidInputError(
                problems_from_pydantic(exc), summary=f"the case does not fit {target.__name__}"
            ) from None
        return dict(values)
    problems = scalar_problems(values, structures=not isinstance(target, FixedWidthLayout))
    if problems:
        raise InvalidInputError(problems, summary="the case does not fit the legacy input")
    return dict(values)


def _fit_column(column: sa.Column[Any], value: Any, problems: list[Problem]) -> Any:
    """``value`` as ``column`` takes it; appends to ``problems`` when it does not fit."""
    kind = column.type
    where = f"{column.table.name}.{column.name}"

    def refuse(rule: str, message: str) -> Any:
        problems.append(Problem(column.name, rule, f"{message} ({where}: {kind!r})"))
        return value

    if value is None:
        if not column.nullable:
            return refuse("target.required", "no value for a column that takes no NULL")
        return None
    if isinstance(kind, sa.types.TypeDecorator | sa.JSON | sa.ARRAY | sa.PickleType):
        return value  # the column's own processing decides (JSON and arrays take structures)
    if isinstance(value, STRUCTURED) and not isinstance(kind, sa.LargeBinary):
        return refuse("target.type", f"{value_kind(value)} where a single value is expected")
    if isinstance(kind, sa.String):
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            return refuse("target.type", f"{value_kind(value)} where text is expected")
        text = value if isinstance(value, str) else str(value)
        if why := text_problem(text):
            return refuse("target.text", f"the value {why}")
        if kind.length is not None and len(text) > kind.length:
            return refuse("target.max_length", f"{len(text)} characters, at most {kind.length}")
        if isinstance(kind, sa.Enum) and kind.enums and text not in kind.enums:
            return refuse("target.enum", "not one of " + ", ".join(kind.enums))
        return value
    if isinstance(kind, sa.Boolean):
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return bool(value)
        return refuse("target.type", f"{value_kind(value)} where true/false is expected")
    if isinstance(kind, sa.Integer):
        return _fit_integer(kind, value, refuse)
    if isinstance(kind, sa.Numeric | sa.Float):
        return _fit_number(kind, value, refuse)
    if isinstance(kind, sa.DateTime | sa.Date | sa.Time):
        return _fit_temporal(kind, value, refuse)
    return value


def _fit_integer(kind: sa.Integer, value: Any, refuse: Any) -> Any:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, Decimal) and value.is_finite() and value == int(value):
        number = int(value)
    elif isinstance(value, str) and _INTEGER_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
    if number is None:
        return refuse("target.type", f"{value_kind(value)} where an integer is expected")
    bound = next((b for t, b in _INT_RANGES.items() if isinstance(kind, t)), 2**31)
    if not -bound <= number < bound:
        return refuse("target.range", f"{number} is outside {-bound}..{bound - 1}")
    return number


def _fit_number(kind: sa.Numeric | sa.Float, value: Any, refuse: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return refuse("target.type", f"{value_kind(value)} where a number is expected")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except InvalidOperation:
        return refuse("target.type", f"{value!r} is not a number")
    if not number.is_finite():
        return refuse("target.range", "not a finite number")
    precision, scale = getattr(kind, "precision", None), getattr(kind, "scale", None)
    if isinstance(kind, sa.Numeric) and precision is not None:
        whole = max(number.adjusted() + 1, 0)
        if whole > precision - (scale or 0):
            return refuse(
                "target.range", f"{whole} integer digits, at most {precision - (scale or 0)}"
            )
    return value if not isinstance(value, str) else number


def _fit_temporal(kind: Any, value: Any, refuse: Any) -> Any:
    wanted = "a time" if isinstance(kind, sa.Time) else "a date"
    if isinstance(value, str):
        try:
            if isinstance(kind, sa.Time):
                return time.fromisoformat(value)
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return refuse("target.type", f"{value!r} is not {wanted} (ISO 8601)")
        return parsed if isinstance(kind, sa.DateTime) else parsed.date()
    if isinstance(kind, sa.Time):
        return (
            value
            if isinstance(value, time)
            else refuse("target.type", f"{value_kind(value)} where {wanted} is expected")
        )
    if isinstance(value, datetime):
        return value if isinstance(kind, sa.DateTime) else value.date()
    if isinstance(value, date):
        return value if isinstance(kind, sa.Date) else datetime.combine(value, time())
    return refuse("target.type", f"{value_kind(value)} where {wanted} is expected")
