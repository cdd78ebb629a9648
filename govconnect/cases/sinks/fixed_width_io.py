"""Reading fixed-width drop files: records checked against their layout and the trailer count.

Legacy batch systems exchange files of fixed-width lines (定长文件): fields at byte offsets in
GB18030 or UTF-8, often a record-type byte first and a trailer line last announcing how many
records the file holds. :class:`~govconnect.cases.sinks.targets.FixedWidthLayout` writes such lines
for the file-drop sink; the functions here read them back, so a connector that reads a legacy
system's drop files (and ``govconnect new connector --from-layout``) uses the same layout for both
directions instead of a copy of the slicing code.

Widths count bytes: a Chinese character is two bytes in GB18030 (four outside the BMP), three in
UTF-8, so a field is sliced as bytes first and decoded after. A file whose trailer is missing is
still being written; one whose trailer miscounts its lines is damaged and refused whole, before
any record of it is used.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..._exceptions import InvalidInputError, Problem

if TYPE_CHECKING:
    from .targets import FixedWidthLayout

__all__ = ["RecordCountTrailer", "announced_count", "data_lines", "parse_line", "read_file"]

log = logging.getLogger("govconnect.fixed_width")


@dataclass(frozen=True)
class RecordCountTrailer:
    """The last line of a file: ``prefix`` then the record count as ``digits`` zero-padded digits,
    padded with spaces to the record width (``T000000042      …``)."""

    prefix: str = "T"
    digits: int = 9

    def encode(self, count: int, width: int, encoding: str) -> bytes:
        """The trailer line for ``count`` records (without the line end)."""
        return f"{self.prefix}{count:0{self.digits}d}".encode(encoding).ljust(width, b" ")

    def count(self, line: bytes, width: int, encoding: str = "ascii") -> int | None:
        """The count a trailer line announces, or ``None`` when ``line`` is not a trailer."""
        body = line.rstrip(b"\r\n")
        prefix = self.prefix.encode(encoding)
        digits = body[len(prefix) : len(prefix) + self.digits]
        if len(body) != width or not body.startswith(prefix) or not digits.isdigit():
            return None
        if len(digits) != self.digits:
            return None
        return int(digits)

    def announced(self, path: Path | str, width: int) -> int | None:
        """The count in the trailer of file ``path``; ``None`` while it is still being written."""
        return announced_count(Path(path), self, width)


def parse_line(
    layout: FixedWidthLayout,
    line: bytes,
    encoding: str,
    where: str = "line",
    record_type: str | None = None,
) -> dict[str, str]:
    """The field values of one line (line end and padding stripped). With ``record_type`` the
    first field must hold it and is left out of the values. A line of the wrong length, type or
    encoding raises :class:`InvalidInputError` naming ``where`` (``file:line``)."""
    body = line.rstrip(b"\r\n")
    width = layout.record_width
    first = layout.fields[0]
    kind = body[: first.width].decode(encoding, "replace").strip()
    if len(body) != width or (record_type is not None and kind != record_type):
        expected = f"{record_type!r} and " if record_type is not None else ""
        raise InvalidInputError(
            [
                Problem(
                    where,
                    "fixed_width.record",
                    f"a record line is {expected}{width} bytes; got {len(body)} bytes "
                    f"starting {body[:1]!r}",
                )
            ]
        )
    try:
        values = layout.decode(body, encoding)
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            [Problem(where, "fixed_width.encoding", f"not {encoding} at byte {exc.start}")]
        ) from None
    if record_type is not None:
        values.pop(first.name, None)
    return {name: value.strip() for name, value in values.items()}


def data_lines(path: Path) -> int:
    """Lines before the trailer (the last line), counted a megabyte at a time."""
    lines, last = 0, b""
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines - (1 if last == b"\n" else 0)


def announced_count(path: Path, trailer: RecordCountTrailer, width: int) -> int | None:
    """The count in the file's trailer (its last line), read from the end without a full scan;
    ``None`` when the last line is not a trailer (the file is still being written)."""
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        if size == 0:
            return None
        fh.seek(max(0, size - width - 512))
        tail = fh.read().rstrip(b"\r\n").rsplit(b"\n", 1)[-1]
    return trailer.count(tail, width)


def read_file(
    layout: FixedWidthLayout,
    path: Path,
    encoding: str,
    *,
    trailer: RecordCountTrailer | None = None,
    record_type: str | None = None,
) -> Iterator[tuple[str, dict[str, str] | None]]:
    """``(file:line, values)`` of every record line of ``path``, streamed; ``None`` (and a
    warning naming the line and the rule) for a line that is not a well-formed record.

    With ``trailer``, the file is checked before any line is yielded: no trailer raises
    ``drop_file.no_trailer`` (still being written: try later), a count that disagrees with the
    lines raises ``drop_file.count`` (truncated or appended to)."""
    path = Path(path)
    lines = None
    if trailer is not None:
        expected = announced_count(path, trailer, layout.record_width)
        if expected is None:
            raise InvalidInputError(
                [
                    Problem(
                        path.name,
                        "drop_file.no_trailer",
                        "no trailer line: the file is still being written",
                    )
                ]
            )
        lines = data_lines(path)
        if lines != expected:
            raise InvalidInputError(
                [
                    Problem(
                        path.name,
                        "drop_file.count",
                        f"trailer announces {expected} lines, the file has {lines}",
                    )
                ]
            )
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if lines is not None and number > lines:  # the trailer
                break
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                yield where, parse_line(layout, line, encoding, where, record_type)
            except InvalidInputError as exc:
                log.warning("%s: %s", where, exc.problems[0].message)
                yield where, None
