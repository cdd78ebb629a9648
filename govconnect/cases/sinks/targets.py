"""Targets: what the legacy input looks like, for load-time mapping checks.

:func:`target_fields` reads field names (and which are required) from a SQLAlchemy table, a pydantic
model, a :class:`FixedWidthLayout` (the records a legacy batch system reads; the file-drop sink
writes them), a mapping or a sequence of names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from ..._exceptions import InvalidInputError, Problem
from .base import _text
from .fixed_width_io import RecordCountTrailer, parse_line, read_file

__all__ = ["FixedField", "FixedWidthLayout", "target_fields"]


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
