"""``govconnect new connector --from-db URL``: a connector project drafted from a discovery report.

Discovery (``govconnect.discovery``) says, per table, what each column holds and how it should be
typed, titled and classified; this module turns that into the context of the ``templates/from-db``
tree: one record model per table, a ``@dataset`` and a ``@query`` lookup per table, the legacy
tables as SQLAlchemy declares them, and the kinds of synthetic values its tests fill them with.
What only a person may decide (resource codes, names, sharing, open attributes, update cycle, the
titles nobody wrote) is drafted and listed in ``drafts=`` so the catalog knows it.

Nothing sampled reaches the files: the report carries counts, never values, and the synthetic rows
are made from the column kinds (``govconnect.testing.synthetic_value``).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..discovery.discover import discover, safe_url
from ..discovery.model import ColumnReport, DiscoveryReport, TableReport
from ._scaffold import checked_answers, class_name, identifier, render_tree

__all__ = ["draft_context", "record_context", "render_from_db"]

SERVICE_DRAFTS = (
    "code",
    "name",
    "abstract",
    "sharing.type",
    "sharing.conditions",
    "open.public",
    "update_cycle",
)
"""What a generator cannot know about a service: all of it is the department's decision."""

_TEMPORAL_SQL = re.compile(r"DATE|TIME", re.I)
_PRECISION = re.compile(r"\((\d+)\s*(?:,\s*(\d+))?\)")
_SERVED = {"str", "int", "float", "Decimal", "bool", "date", "datetime", "CitizenId", "CreditCode"}
_KIND_VALUES = {"name", "phone", "email", "address", "bank_card"}


def _stored_as_text(col: ColumnReport) -> bool:
    """A date / date-time column the legacy system keeps as text (``CHAR(8)``)."""
    return col.python_type in ("date", "datetime") and not _TEMPORAL_SQL.search(col.sql_type)


def _sa_type(col: ColumnReport) -> str:
    """The SQLAlchemy type (as code) the legacy column is read with: its storage, not its meaning."""
    sql = col.sql_type.upper()
    text = f"sa.String({col.length})" if col.length else "sa.Text()"
    if _stored_as_text(col) or col.python_type in ("CitizenId", "CreditCode"):
        return text
    code = col.data_type.value
    if code in ("N", "Y"):
        found = _PRECISION.search(sql)
        if found:
            return f"sa.Numeric({found[1]}, {found[2] or 0})"
        return "sa.Numeric()"
    simple = {
        "I": "sa.BigInteger()" if "BIGINT" in sql else "sa.Integer()",
        "B": "sa.Double()",
        "F": "sa.Float()",
        "D": "sa.Date()",
        "T": "sa.DateTime()",
        "L": "sa.Boolean()",
        "M": "sa.Text()",
    }
    if code in simple:
        return simple[code]
    if col.python_type == "bytes":
        return "sa.LargeBinary()"
    if col.python_type == "time":
        return "sa.Time()"
    return text


def _annotation(col: ColumnReport) -> str | None:
    """The record annotation, or None for a column the record does not serve."""
    if col.python_type not in _SERVED:
        return None
    if _stored_as_text(col):
        return "TextDate" if col.python_type == "date" else "TextDateTime"
    return col.python_type


def _synthetic_kind(col: ColumnReport, is_key: bool) -> str:
    """What synthetic values fill the column in the generated tests (see synthetic_value)."""
    if col.python_type == "bytes" or not col.sampled:
        return "bytes"
    if col.identity in ("citizen_id", "credit_code"):
        return col.identity
    if _stored_as_text(col):
        return f"{col.python_type}_text"
    by_type = {
        "int": "int",
        "Decimal": "decimal",
        "float": "float",
        "bool": "bool",
        "date": "date",
        "datetime": "datetime",
        "time": "time",
    }
    if col.python_type in by_type:
        return by_type[col.python_type]
    if is_key:
        return "text"
    if col.kind in _KIND_VALUES and (col.length is None or col.length >= 11):
        return col.kind
    return "code" if col.code_table else "text"


def _reason(col: ColumnReport) -> str:
    """One line saying why the field is typed and classified so (counts, never values): the
    detections when there are any, else the declared type and the default classification."""
    generic = (
        "title from",
        "no comment and no dictionary",
        "personal information is suggested",
        "data element",
    )
    plain = ("data type", "no personal information found")
    kept = [r for r in col.reasons if not r.startswith(generic)]
    specific = [r for r in kept if not r.startswith(plain)]
    line = " ".join(specific[:2] or kept) or f"{col.sql_type}: nothing detected."
    return re.sub(r"\s+", " ", line)


def _column(col: ColumnReport, taken: set[str], index: int, is_key: bool) -> dict[str, Any]:
    name = identifier(col.name, taken, f"field_{index}")
    annotation = _annotation(col)
    title = col.title or col.name
    return {
        "column": col.name,
        "name": name,
        "title": title,
        "title_drafted": not col.title,
        "annotation": annotation,
        "optional": col.nullable and not is_key,
        "level": col.level.name,
        "personal": col.personal,
        "element": col.element,
        "max_length": col.length if annotation == "str" and col.length else None,
        "reason": _reason(col),
        "sa_type": _sa_type(col),
        "nullable": col.nullable,
        "is_key": is_key,
        "kind": _synthetic_kind(col, is_key),
        "length": col.length,
        "sql_type": col.sql_type,
    }


def _guess_key(table: TableReport) -> tuple[str | None, str]:
    """Discovery's key, else the first identity column, else the first served column."""
    if table.key and len(table.key) == 1:
        return table.key[0], "from discovery"
    served = [c for c in table.columns if _annotation(c) is not None]
    for col in served:
        if col.identity:
            return col.name, "a guess (no unique column found): confirm it"
    if served:
        return served[0].name, "a guess (no unique column found): confirm it"
    return None, "no served column"


def _table(table: TableReport, taken_services: set[str], index: int) -> dict[str, Any] | None:
    key_column, key_source = _guess_key(table)
    if key_column is None:
        return None
    service = identifier(table.name, taken_services, f"table_{index}")
    taken_services.add(f"{service}_by_key")
    fields: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    taken: set[str] = set()
    for i, col in enumerate(table.columns, 1):
        entry = _column(col, taken, i, col.name == key_column)
        (fields if entry["annotation"] else skipped).append(entry)
    key = next(f for f in fields if f["is_key"])
    replication = next(
        (
            f
            for f in fields
            if f["column"] == table.replication_key and f["annotation"] in ("datetime", "int")
        ),
        None,
    )
    drafts = [*SERVICE_DRAFTS, *(f"items.{f['name']}.title" for f in fields if f["title_drafted"])]
    return {
        "table": table.name,
        "schema": table.schema,
        "service": service,
        "class_name": class_name(service),
        "fields": fields,
        "skipped": skipped,
        "key": key,
        "key_source": key_source,
        "replication": replication,
        "drafts": drafts,
        "rows_estimate": table.rows_estimate,
    }


def record_context(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``records.py`` imports and exports, for the drafted tables."""
    annotations = {f["annotation"] for t in tables for f in t["fields"]}
    return {
        "uses": sorted(annotations & {"CitizenId", "CreditCode", "TextDate", "TextDateTime"}),
        "py_types": sorted(annotations & {"date", "datetime", "Decimal"}),
        "record_exports": sorted(
            name
            for t in tables
            for name in (
                t["class_name"],
                f"{t['class_name']}Key",
                *([f"{t['class_name']}Since"] if t["replication"] else []),
            )
        ),
    }


def _without_password(url: sa.URL) -> str:
    """The URL as written in the generated settings: no password at all (``URL.set`` cannot
    remove one), so nothing secret ever reaches a file."""
    bare = sa.URL.create(
        url.drivername,
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return bare.render_as_string(hide_password=False)


def draft_context(
    report: DiscoveryReport, url: str, answers: Mapping[str, str], schema: str | None
) -> dict[str, Any]:
    """Everything the ``from-db`` tree renders from: the answers, the URL without its password
    (the password comes from ``GOVCONNECT_<NAME>_PASSWORD``), the tables and their services."""
    rendered = checked_answers(answers)
    name = rendered["connector_name"]
    taken: set[str] = {"close", "engine", "metadata", "tables", "name", "department", "system"}
    tables = [
        t
        for i, table in enumerate(report.tables, 1)
        if table.error is None and (t := _table(table, taken, i)) is not None
    ]
    prefix = f"399999{zlib.crc32(name.encode()) % 10**6:06d}"
    for n, t in enumerate(tables):
        t["dataset_code"] = f"{prefix}/{2 * n + 1:04d}"
        t["query_code"] = f"{prefix}/{2 * n + 2:04d}"
    parsed = sa.make_url(url)
    return {
        **rendered,
        "project": rendered["project_slug"],
        "package": rendered["__package_name"],
        "class_name": rendered["__class_name"],
        "env_prefix": f"GOVCONNECT_{name.upper()}_",
        "url": _without_password(parsed),
        "shown_url": safe_url(parsed),
        "generator": "--from-db",
        "source": safe_url(parsed),
        "has_password": parsed.password is not None,
        "schema": schema,
        "tables": tables,
        "failed": [(t.name, t.error) for t in report.failed],
        "today": date.today().isoformat(),
        **record_context(tables),
    }


def render_from_db(
    url: str,
    output_dir: Path | str = ".",
    answers: Mapping[str, str] | None = None,
    *,
    tables: list[str] | None = None,
    schema: str | None = None,
    sample: int = 1000,
    overwrite: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Discover ``url`` (read-only) and render the drafted project; returns its folder and the
    context it was rendered from (the CLI prints the tables and drafts from it)."""
    answers = dict(answers or {})
    checked_answers(answers)  # refuse bad answers before touching the database
    report = discover(url, schema=schema, tables=tables or None, sample=sample)
    context = draft_context(report, url, answers, schema)
    if not context["tables"]:
        from .._exceptions import ConfigurationError

        failed = "; ".join(f"{n}: {e}" for n, e in context["failed"]) or "no tables"
        raise ConfigurationError(f"nothing to generate from {context['shown_url']} ({failed})")
    return render_tree("from-db", Path(output_dir), context, overwrite=overwrite), context
