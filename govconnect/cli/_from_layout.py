"""``govconnect new connector --from-layout LAYOUT.csv``: a file-drop connector from a byte layout.

Vendors' interface documents already hold the layout of the fixed-width files a legacy system
drops (字段名, 中文名称, 起始位置, 长度, 类型). Saved as CSV (``name,title,start,length,type``; start
1- or 0-based; type a catalog data type code: C/M text, N/I integer, Y amount, D date ``YYYYMMDD``,
T date-time ``YYYYMMDDHHMMSS``), it is enough to draft the whole connector: the
:class:`~govconnect.FixedWidthLayout` that reads the files, a record whose fields are titled from
the layout and classified by the discovery dictionary (names only: there are no values to look
at), a ``@dataset`` and a ``@query`` lookup, and tests on synthetic drop files.

The layout is checked first and every broken row is reported at once, naming ``file:row``.
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from .._exceptions import InvalidInputError, Problem
from .._registry import load_registry
from ..catalog.fields import DataType
from ..discovery.classify import suggest
from ..discovery.discover import toolkit
from ..discovery.model import ColumnReport, TableReport
from ._from_db import _table, record_context
from ._scaffold import checked_answers, identifier, render_tree

__all__ = ["LayoutField", "read_layout", "render_from_layout"]

COLUMNS = ("name", "title", "start", "length", "type")
_TYPES = {
    "C": (DataType.CHAR, "str"),
    "M": (DataType.CHAR, "str"),
    "N": (DataType.INTEGER, "int"),
    "I": (DataType.INTEGER, "int"),
    "Y": (DataType.CURRENCY, "Decimal"),
    "D": (DataType.DATE, "date"),
    "T": (DataType.DATETIME, "datetime"),
}
_IDENTITY = {"citizen_id": "CitizenId", "credit_code": "CreditCode"}


class LayoutField(dict[str, Any]):
    """One row of the layout: ``name``, ``title``, ``start`` (0-based), ``length``, ``type``."""


def _text(path: Path) -> str:
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInputError(
        [Problem(path.name, "layout.encoding", "the layout is neither UTF-8 nor GB18030 text")]
    )


def read_layout(path: Path) -> list[LayoutField]:
    """The layout's rows, checked: known columns, unique names, positive lengths, known types,
    and fields that follow each other without gaps or overlaps."""
    if not path.is_file():
        raise InvalidInputError([Problem(str(path), "layout.missing", "no such layout file")])
    reader = csv.DictReader(io.StringIO(_text(path)))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InvalidInputError(
            [
                Problem(
                    f"{path.name}:1",
                    "layout.columns",
                    f"the header lacks {', '.join(missing)} (columns: {', '.join(COLUMNS)})",
                )
            ]
        )
    problems: list[Problem] = []
    rows: list[LayoutField] = []
    seen: set[str] = set()
    for number, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        where = f"{path.name}:{number}"
        if not any(row.values()):
            continue
        name, kind = row["name"], row["type"].upper()
        try:
            start, length = int(row["start"]), int(row["length"])
        except ValueError:
            problems.append(Problem(where, "layout.number", "start and length must be integers"))
            continue
        if not name or name in seen:
            problems.append(Problem(where, "layout.name", f"name {name!r} is blank or repeated"))
        if length < 1:
            problems.append(Problem(where, "layout.length", f"length {length} is not positive"))
        if kind not in _TYPES:
            problems.append(
                Problem(where, "layout.type", f"type {kind!r} is not one of {', '.join(_TYPES)}")
            )
        seen.add(name)
        rows.append(
            LayoutField(name=name, title=row["title"], start=start, length=length, type=kind)
        )
        rows[-1]["where"] = where
    if rows:
        base = offset = rows[0]["start"]
        if base not in (0, 1):
            problems.append(
                Problem(rows[0]["where"], "layout.start", "the first field starts at 1 (or 0)")
            )
        for row in rows:
            if row["start"] != offset:
                problems.append(
                    Problem(
                        row["where"],
                        "layout.gap",
                        f"{row['name']} starts at {row['start']}; the field before ends at {offset}",
                    )
                )
            offset = row["start"] + row["length"]
        for row in rows if not problems else ():
            row["start"] -= base  # 0-based from here on
    if not rows and not problems:
        problems.append(Problem(path.name, "layout.empty", "the layout has no fields"))
    if problems:
        raise InvalidInputError(problems, summary=f"the layout {path.name} cannot be used")
    return rows


def _column(row: LayoutField, table: str, tools: Any) -> ColumnReport:
    data_type, python_type = _TYPES[row["type"]]
    col = ColumnReport(
        name=row["name"],
        sql_type=f"CHAR({row['length']})",
        nullable=True,
        length=row["length"],
        data_type=data_type,
        python_type=python_type,
    )
    suggest(table, col, row["title"] or None, [], tools)
    identity = _IDENTITY.get(col.kind or "")
    if identity and python_type == "str" and row["length"] == 18:
        col.identity, col.python_type = col.kind, identity
        col.reasons.insert(0, f"the layout calls it {row['title'] or col.name}: {col.kind}.")
    return col


def layout_context(
    path: Path,
    answers: Mapping[str, str],
    *,
    encoding: str,
    trailer: str | None,
    record_type: str | None,
) -> dict[str, Any]:
    """What the ``from-layout`` tree renders from (the shapes of ``from-db``'s, one table)."""
    rendered = checked_answers(answers)
    rows = read_layout(path)
    type_field = rows[0] if record_type is not None else None
    if type_field is not None and len(record_type.encode(encoding)) != type_field["length"]:
        raise InvalidInputError(
            [
                Problem(
                    "--record-type",
                    "layout.record_type",
                    f"{record_type!r} does not fill the first field ({type_field['name']}, "
                    f"{type_field['length']} bytes)",
                )
            ]
        )
    tools = toolkit(load_registry())
    service = identifier(path.stem, set(), "records")
    table = TableReport(name=service, rows_estimate=None)
    table.columns = [_column(r, service, tools) for r in rows if r is not type_field]
    drafted = _table(table, {"close", "name"}, 1)
    assert drafted is not None  # a layout has at least one served field
    name = rendered["connector_name"]
    prefix = f"399999{zlib.crc32(name.encode()) % 10**6:06d}"
    drafted.update(dataset_code=f"{prefix}/0001", query_code=f"{prefix}/0002")
    return {
        **rendered,
        "project": rendered["project_slug"],
        "package": rendered["__package_name"],
        "class_name": rendered["__class_name"],
        "generator": "--from-layout",
        "source": path.name,
        "env_prefix": f"GOVCONNECT_{name.upper()}_",
        "encoding": encoding,
        "trailer": trailer,
        "record_type": record_type,
        "layout": [
            {**r, "align": "right" if r["type"] in ("N", "I", "Y") else "left"} for r in rows
        ],
        "record_width": sum(r["length"] for r in rows),
        "tables": [drafted],
        "today": date.today().isoformat(),
        **record_context([drafted]),
    }


def render_from_layout(
    path: Path | str,
    output_dir: Path | str = ".",
    answers: Mapping[str, str] | None = None,
    *,
    encoding: str = "gb18030",
    trailer: str | None = None,
    record_type: str | None = None,
    overwrite: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Render the file-drop connector drafted from layout ``path``; returns its folder and context."""
    context = layout_context(
        Path(path), answers or {}, encoding=encoding, trailer=trailer, record_type=record_type
    )
    return render_tree("from-layout", Path(output_dir), context, overwrite=overwrite), context
