"""Sinks: how a mapped case reaches the legacy system — parameter passing, file drop, database write.

The seeds name exactly three ways to feed a legacy system without re-typing: call its own API
(参数传递), drop a data file where it picks files up (数据文件传输), or write its database (写数据库).
Every sink is transactional and idempotent by case id: a case delivered twice (the platform
re-delivers until a case is acknowledged) never creates a second record, and a failure leaves
nothing half-written.

A sink answers :class:`SinkResult`; a transient failure (the legacy system is down) raises
:class:`RetryableError` so the case is left unacknowledged and retried; a refusal by the legacy
system raises :class:`InvalidInputError` naming the field, and the case is returned to the applicant.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable
from xml.etree import ElementTree as ET

import httpx
import sqlalchemy as sa
from pydantic import BaseModel

from ..._exceptions import InvalidInputError, Problem, RetryableError

__all__ = [
    "ApiSink",
    "DatabaseSink",
    "FileDropSink",
    "FixedField",
    "FixedWidthLayout",
    "Sink",
    "SinkResult",
    "target_fields",
]


@dataclass(frozen=True)
class SinkResult:
    """What the legacy system made of a case: was it new, and under which reference."""

    applied: bool
    reference: str | None = None
    result: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Sink(Protocol):
    """Anything that can take a mapped case into a legacy system, idempotently by case id."""

    def write(self, case_id: str, values: Mapping[str, Any]) -> SinkResult: ...

    def close(self) -> None: ...


# --- targets: what the legacy input looks like, for load-time mapping checks -------------------------


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


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d%H%M%S")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


# --- database write ----------------------------------------------------------------------------------


class DatabaseSink:
    """Write each case as one row (plus, optionally, child rows) in one transaction, keyed by the
    case-id column, so a redelivered case never adds a second row.

    ``on_conflict`` says what a redelivered case does to its existing row: ``"keep"`` (the
    default) leaves it alone — the legacy system may already have moved it on (a clerk took it up),
    and rewriting it would undo that — while ``"update"`` overwrites it with the new values.
    ``extra(conn, case_id, values)`` runs inside the same transaction (child tables, an audit row of
    the legacy system); if it raises, nothing of the case is written.
    """

    def __init__(
        self,
        engine: sa.Engine,
        table: sa.Table,
        key: str,
        *,
        on_conflict: Literal["keep", "update"] = "keep",
        extra: Callable[[sa.Connection, str, Mapping[str, Any]], None] | None = None,
    ) -> None:
        if key not in table.c:
            raise ValueError(f"table {table.name!r} has no column {key!r}")
        if on_conflict not in ("keep", "update"):
            raise ValueError(f"on_conflict is 'keep' or 'update', not {on_conflict!r}")
        self.engine, self.table, self.key = engine, table, key
        self.on_conflict, self.extra = on_conflict, extra

    def write(self, case_id: str, values: Mapping[str, Any]) -> SinkResult:
        row = {**values, self.key: case_id}
        unknown = sorted(set(row) - set(self.table.c.keys()))
        if unknown:
            raise InvalidInputError(
                [
                    Problem(name, "column.unknown", f"{self.table.name} has no column {name!r}")
                    for name in unknown
                ]
            )
        try:
            return self._write(case_id, values, row)
        except sa.exc.IntegrityError as exc:
            if self._exists(case_id):  # a concurrent writer inserted this case first
                return self._write(case_id, values, row)
            raise InvalidInputError(
                [Problem(self.table.name, "database.integrity", _reason(exc))]
            ) from None
        except sa.exc.DataError as exc:
            raise InvalidInputError(
                [Problem(self.table.name, "database.data", _reason(exc))]
            ) from None
        except sa.exc.OperationalError as exc:
            if not _is_transient(exc):
                raise InvalidInputError(
                    [Problem(self.table.name, "database.refused", _reason(exc))]
                ) from None
            raise RetryableError(f"legacy database unavailable: {_reason(exc)}") from None

    def _write(self, case_id: str, values: Mapping[str, Any], row: dict[str, Any]) -> SinkResult:
        key_col = self.table.c[self.key]
        with self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(key_col).where(key_col == case_id).with_for_update()
            ).first()
            if exists is None:
                conn.execute(self.table.insert().values(**row))
            elif self.on_conflict == "update":
                conn.execute(self.table.update().where(key_col == case_id).values(**row))
            else:
                return SinkResult(applied=False, reference=f"{self.table.name}:{case_id}")
            if self.extra is not None:
                self.extra(conn, case_id, values)
        return SinkResult(applied=exists is None, reference=f"{self.table.name}:{case_id}")

    def _exists(self, case_id: str) -> bool:
        key_col = self.table.c[self.key]
        try:
            with self.engine.connect() as conn:
                return (
                    conn.execute(sa.select(key_col).where(key_col == case_id)).first() is not None
                )
        except sa.exc.SQLAlchemyError:
            return False

    def close(self) -> None:
        self.engine.dispose()


_REDACT = (
    (re.compile(r"entry '[^']*'"), "entry '…'"),  # MySQL: Duplicate entry '<value>' for key …
    (re.compile(r': "[^"]*"'), ': "…"'),  # PostgreSQL: invalid input syntax for type …: "<value>"
    (re.compile(r"\(([^()]*)\)=\([^()]*\)"), r"(\1)=(…)"),  # PostgreSQL detail: Key (c)=(<value>)
)


def _reason(exc: sa.exc.DBAPIError) -> str:
    """The driver's first line, with the values it quotes removed: they may be citizen IDs, and
    this text travels to logs and back to the applicant."""
    text = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
    for pattern, replacement in _REDACT:
        text = pattern.sub(replacement, text)
    return text


_MYSQL_TRANSIENT = {1040, 1205, 1213, 2002, 2003, 2006, 2013}


def _is_transient(exc: sa.exc.OperationalError) -> bool:
    """Connection trouble, locks and deadlocks may pass; MySQL's data errors (e.g. 1364, a field
    without a default) arrive as OperationalError too and will never succeed."""
    if exc.connection_invalidated:
        return True
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    if isinstance(code, int):
        return code in _MYSQL_TRANSIENT
    return True


# --- data-file transfer ------------------------------------------------------------------------------


def _digest(algorithm: str, data: bytes) -> str:
    return hashlib.new(algorithm, data).hexdigest()


class FileDropSink:
    """Drop one file per case into the folder a legacy system polls, atomically, with a manifest.

    The data file is written to a temporary name in the same folder, flushed to disk and renamed;
    then the manifest (checksum, size, encoding, record count) is written the same way. The manifest
    is the commit marker: a legacy reader takes a data file only when its manifest exists and the
    checksum matches, so a crash at any instant leaves either nothing or a complete drop. A case
    whose manifest already exists was delivered before and is not written again.
    """

    EXTENSIONS: ClassVar[dict[str, str]] = {
        "csv": "csv",
        "json": "json",
        "xml": "xml",
        "fixed": "dat",
    }

    def __init__(
        self,
        folder: str | Path,
        *,
        format: Literal["csv", "json", "xml", "fixed"] = "json",
        encoding: str = "utf-8",
        layout: FixedWidthLayout | None = None,
        checksum: Literal["sha256", "sm3"] = "sha256",
        prefix: str = "",
    ) -> None:
        if format == "fixed" and layout is None:
            raise ValueError("a fixed-width drop needs a layout")
        self.folder = Path(folder)
        self.format, self.encoding, self.layout = format, encoding, layout
        self.checksum, self.prefix = checksum, prefix
        self.folder.mkdir(parents=True, exist_ok=True)

    def paths(self, case_id: str) -> tuple[Path, Path]:
        stem = f"{self.prefix}{case_id}"
        return (
            self.folder / f"{stem}.{self.EXTENSIONS[self.format]}",
            self.folder / f"{stem}.manifest.json",
        )

    def render(self, values: Mapping[str, Any]) -> bytes:
        """The file's bytes in the configured format and encoding."""
        try:
            if self.format == "fixed":
                assert self.layout is not None
                return self.layout.encode(values, self.encoding) + b"\r\n"
            if self.format == "json":
                data = {k: _jsonable(v) for k, v in values.items()}
                return json.dumps(data, ensure_ascii=False, indent=2).encode(self.encoding)
            if self.format == "csv":
                out = io.StringIO()
                writer = csv.writer(out, lineterminator="\r\n")
                writer.writerow(values.keys())
                writer.writerow(_text(v) for v in values.values())
                return out.getvalue().encode(self.encoding)
            root = ET.Element("record")
            for k, v in values.items():
                ET.SubElement(root, k).text = _text(v)
            body = ET.tostring(root, encoding="unicode")
            head = f'<?xml version="1.0" encoding="{self.encoding.upper()}"?>\n'
            return (head + body + "\n").encode(self.encoding)
        except UnicodeEncodeError as exc:
            raise InvalidInputError(
                [Problem("file", "encoding", f"cannot be written in {self.encoding}: {exc.reason}")]
            ) from None

    def write(self, case_id: str, values: Mapping[str, Any]) -> SinkResult:
        data_path, manifest_path = self.paths(case_id)
        if manifest_path.exists():
            return SinkResult(applied=False, reference=data_path.name)
        body = self.render(values)
        manifest = {
            "case_id": case_id,
            "file": data_path.name,
            "format": self.format,
            "encoding": self.encoding,
            "size": len(body),
            "records": 1,
            "checksum": {"algorithm": self.checksum, "value": _digest(self.checksum, body)},
            "created_at": datetime.now(UTC).isoformat(),
        }
        try:
            _atomic_write(data_path, body)
            _atomic_write(
                manifest_path, json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            )
            _fsync_dir(self.folder)
        except OSError as exc:
            raise RetryableError(f"drop folder {self.folder} not writable: {exc}") from exc
        return SinkResult(
            applied=True, reference=data_path.name, result={"checksum": manifest["checksum"]}
        )

    def verify(self, case_id: str) -> bool:
        """True when the case's drop is complete and its checksum matches (what a reader checks)."""
        data_path, manifest_path = self.paths(case_id)
        if not manifest_path.exists() or not data_path.exists():
            return False
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        body = data_path.read_bytes()
        return (
            len(body) == manifest["size"]
            and _digest(manifest["checksum"]["algorithm"], body) == manifest["checksum"]["value"]
        )

    def close(self) -> None:
        """Nothing to release: every write closes its own files."""


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- parameter passing (the legacy system's own API) --------------------------------------------------


RETRYABLE_STATUSES = frozenset({401, 403, 408, 425, 429})
"""Legacy API answers that are not the case's fault: our credentials (being rotated, expired), a
timeout, throttling. The case waits for the next round instead of going back to the citizen."""


class ApiSink:
    """Call the legacy system's REST API with the mapped case as JSON.

    The case id travels as ``Idempotency-Key`` so a legacy API that honours it never creates a
    second record; a 409 Conflict (the legacy system's own "already have it") counts as delivered.
    Subclass and override :meth:`request` / :meth:`parse` for SOAP or form-encoded services.
    """

    def __init__(
        self,
        client: httpx.Client,
        path: str,
        *,
        method: str = "POST",
        key_header: str = "Idempotency-Key",
    ) -> None:
        self.client, self.path, self.method, self.key_header = client, path, method, key_header

    def request(self, case_id: str, values: Mapping[str, Any]) -> httpx.Request:
        body = {k: _jsonable(v) for k, v in values.items()}
        return self.client.build_request(
            self.method, self.path, json=body, headers={self.key_header: case_id}
        )

    def parse(self, case_id: str, response: httpx.Response) -> SinkResult:
        """A 2xx means the legacy system took the case, whatever its body says."""
        try:
            data = response.json() if response.content else {}
        except ValueError:
            data = {}
        reference = data.get("reference") or data.get("id") if isinstance(data, dict) else None
        return SinkResult(
            applied=not (isinstance(data, dict) and data.get("duplicate")),
            reference=str(reference) if reference is not None else None,
            result=data if isinstance(data, dict) else {},
        )

    def write(self, case_id: str, values: Mapping[str, Any]) -> SinkResult:
        try:
            response = self.client.send(self.request(case_id, values))
        except httpx.TransportError as exc:
            raise RetryableError(f"legacy API unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code == 409:
            return SinkResult(applied=False, reference=None)
        if response.status_code in RETRYABLE_STATUSES or response.status_code >= 500:
            raise RetryableError(
                f"legacy API answered {response.status_code}", status=response.status_code
            )
        if response.status_code >= 400:
            raise InvalidInputError(
                _legacy_problems(response), summary="the legacy system refused the case"
            )
        return self.parse(case_id, response)

    def close(self) -> None:
        self.client.close()


def _legacy_problems(response: httpx.Response) -> list[Problem]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("problems"), list):
        return [
            Problem(
                str(p.get("field", "?")), str(p.get("rule", "legacy")), str(p.get("message", ""))
            )
            for p in body["problems"]
            if isinstance(p, dict)
        ]
    text = (body.get("message") if isinstance(body, dict) else None) or response.text[:200]
    return [Problem("(legacy)", f"http_{response.status_code}", text or response.reason_phrase)]
