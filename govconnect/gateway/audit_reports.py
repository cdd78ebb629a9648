"""What the audit log tells people: per-service usage and exports for inspectors.

:class:`ServiceUsage` is how much one service is used (proof that a legacy system is alive, or a
zombie); an export writes records with their hashes as CSV or JSON lines, so an inspector can
re-check the chain offline; CSV cells that a spreadsheet would run as a formula are defused.
Kept apart from the log's storage, which only reads the records.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any

from .._exceptions import ConfigurationError
from .audit_record import _COLUMNS, AuditRecord

__all__ = ["EXPORT_FORMATS", "OfficerUsage", "ServiceUsage"]

EXPORT_FORMATS = ("csv", "jsonl")

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection: a purpose
# of ``=HYPERLINK(…)`` in an inspector's export); tab and carriage return start one too in some.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a leading ``'`` before a formula start (strip
    it to re-check the chain from a CSV export; JSON lines are exact)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


@dataclass(frozen=True)
class ServiceUsage:
    """How much one service is used: proof that a system is alive (or a zombie)."""

    service: str
    calls: int
    allowed: int
    refused: int
    rows: int
    consumers: int
    last_used: str | None


@dataclass(frozen=True)
class OfficerUsage:
    """How much one officer called: a verified one by issuer and keyed digest of the subject
    (``audit find --officer SUB`` lists the calls), a claimed one by the name the header gave."""

    auth: str  # verified, claimed, rejected or none
    issuer: str | None
    officer: str | None  # the subject's keyed digest (verified) or the claimed name
    calls: int
    allowed: int
    refused: int
    rows: int
    services: int
    last_used: str | None


_OFFICER_USAGE = """
    SELECT COALESCE(officer_auth, CASE WHEN officer IS NULL THEN 'none' ELSE 'claimed' END) AS auth,
           officer_issuer,
           CASE WHEN officer_auth = 'verified' THEN officer_digest ELSE officer END AS who,
           COUNT(*), {allowed}, {refused},
           COALESCE(SUM(CASE WHEN outcome = 'ok' THEN rows END), 0),
           COUNT(DISTINCT service), MAX(CASE WHEN outcome = 'ok' THEN time END)
    FROM audit GROUP BY auth, officer_issuer, who ORDER BY auth DESC, COUNT(*) DESC
"""
# Written for both stores (SQLite and PostgreSQL): PostgreSQL cannot sum a comparison.
_ALLOWED = "SUM(CASE WHEN outcome = 'ok' THEN 1 ELSE 0 END)"
_REFUSED = "SUM(CASE WHEN outcome != 'ok' THEN 1 ELSE 0 END)"
_SERVICE_USAGE = f"""
    SELECT service, COUNT(*), {_ALLOWED}, {_REFUSED},
           COALESCE(SUM(CASE WHEN outcome = 'ok' THEN rows END), 0),
           COUNT(DISTINCT CASE WHEN outcome = 'ok' THEN consumer END),
           MAX(CASE WHEN outcome = 'ok' THEN time END)
    FROM audit GROUP BY service ORDER BY service
"""


def _service_usage(conn: Any) -> list[ServiceUsage]:
    """Calls, rows, distinct consumers and last successful use per service (either store)."""
    return [
        ServiceUsage(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), r[6])
        for r in conn.execute(_SERVICE_USAGE)
    ]


def _officer_usage(conn: Any, have: Iterable[str] | None = None) -> list[OfficerUsage]:
    """Calls per officer (``audit usage --by officer``); a log written before the officer
    columns groups by the claimed officer only. ``have``: the columns of ``audit`` (read from
    SQLite when not given; a PostgreSQL log always has them all)."""
    if have is None:
        have = {r[1] for r in conn.execute("PRAGMA table_info(audit)")}
    sql = _OFFICER_USAGE.format(allowed=_ALLOWED, refused=_REFUSED)
    if "officer_auth" not in have:
        for column in ("officer_auth", "officer_issuer", "officer_digest"):
            sql = sql.replace(column, "NULL")
    return [
        OfficerUsage(r[0], r[1], r[2], int(r[3]), int(r[4]), int(r[5]), int(r[6]), int(r[7]), r[8])
        for r in conn.execute(sql)
    ]


def _write_export(records: Iterable[AuditRecord], out: IO[str], fmt: str) -> int:
    """Write ``records`` (with their hashes, for offline checking) as CSV or JSON lines."""
    if fmt not in EXPORT_FORMATS:
        raise ConfigurationError(f"unknown format {fmt!r}; choose csv or jsonl")
    n = 0
    writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writerow(_COLUMNS)
    for rec in records:
        if writer is not None:
            row = rec.as_dict()
            writer.writerow(
                [
                    _csv_cell(";".join(row[c]) if isinstance(row[c], list) else row[c])
                    for c in _COLUMNS
                ]
            )
        else:
            out.write(json.dumps(rec.as_dict(), ensure_ascii=False) + "\n")
        n += 1
    return n
