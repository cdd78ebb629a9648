"""What every sink is: :class:`Sink` takes a mapped case, :class:`SinkResult` says what became of it.

Also how a mapped value is written as text (``_text``: files, fixed-width records) and as JSON
(``_jsonable``: JSON files, API bodies), the same for every sink.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

__all__ = ["Sink", "SinkResult"]


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
