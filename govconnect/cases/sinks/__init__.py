"""Sinks: how a mapped case reaches the legacy system — parameter passing, file drop, database write.

The seeds name exactly three ways to feed a legacy system without re-typing: call its own API
(参数传递), drop a data file where it picks files up (数据文件传输), or write its database (写数据库).
Every sink is transactional and idempotent by case id: a case delivered twice (the platform
re-delivers until a case is acknowledged) never creates a second record, and a failure leaves
nothing half-written.

A sink answers :class:`SinkResult`; a transient failure (the legacy system is down) raises
:class:`RetryableError` so the case is left unacknowledged and retried; a refusal by the legacy
system raises :class:`InvalidInputError` naming the field, and the case is returned to the applicant.

Lives here: what every sink is (``base``: :class:`Sink`, :class:`SinkResult`), what the legacy input
looks like (``targets``: :func:`target_fields`, fixed-width layouts, read back by
``fixed_width_io``) and one module per way in:
``database``, ``filedrop``, ``api``. Import them from this package.
"""

from __future__ import annotations

from .api import ApiSink
from .base import Sink, SinkResult
from .database import CommitMode, DatabaseSink
from .filedrop import FileDropSink
from .fixed_width_io import RecordCountTrailer
from .targets import FixedField, FixedWidthLayout, target_fields

__all__ = [
    "ApiSink",
    "CommitMode",
    "DatabaseSink",
    "FileDropSink",
    "FixedField",
    "FixedWidthLayout",
    "RecordCountTrailer",
    "Sink",
    "SinkResult",
    "target_fields",
]
