"""Data-file transfer (数据文件传输): one file per case in the folder a legacy system polls."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal
from xml.etree import ElementTree as ET

from ..._exceptions import InvalidInputError, Problem, RetryableError
from ...exchange.platform import encode_case_id
from .base import SinkResult, _jsonable, _text
from .targets import FixedWidthLayout, scalar_problems

MAX_NAME_BYTES = 200
"""The longest file name a drop may use (most file systems allow 255 bytes; the temporary name
adds a few)."""

__all__ = ["FileDropSink"]


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
        """The data file and manifest of a case. The case id is percent-encoded into the name
        (``/``, ``..``, control characters and non-ASCII cannot escape the folder or confuse a
        reader; ids of letters, digits, ``-`` and ``_`` keep their name); a name too long for the
        file system is refused naming the case id."""
        stem = f"{self.prefix}{encode_case_id(case_id)}"
        if len(stem.encode()) + len(".manifest.json") > MAX_NAME_BYTES:
            raise InvalidInputError(
                [
                    Problem(
                        "case_id",
                        "file.name_length",
                        f"the drop file name would exceed {MAX_NAME_BYTES} bytes",
                    )
                ]
            )
        return (
            self.folder / f"{stem}.{self.EXTENSIONS[self.format]}",
            self.folder / f"{stem}.manifest.json",
        )

    def render(self, values: Mapping[str, Any]) -> bytes:
        """The file's bytes in the configured format and encoding; an object or a list is refused
        for a text field (CSV cell, XML element, fixed-width field) rather than stringified."""
        problems = scalar_problems(values, structures=self.format == "json")
        if problems:
            raise InvalidInputError(problems, summary="the case does not fit the drop file")
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
