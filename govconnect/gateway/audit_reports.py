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
from typing import IO

from .._exceptions import ConfigurationError
from .audit_record import _COLUMNS, AuditRecord

__all__ = ["EXPORT_FORMATS", "ServiceUsage"]

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
