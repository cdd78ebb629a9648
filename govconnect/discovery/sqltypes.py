"""Declared SQL types → catalog data type code, Python type and length.

The catalog guideline's codes (C char, N numeric, Y currency, D date, T datetime, L logical,
M memo, G general, B double, I integer, F float) are coarser than SQL types, so the mapping goes
by SQLAlchemy's generic type classes: every dialect's reflected types derive from them, which is
why this works for any SQLAlchemy dialect, not only the three tested here. Detectors may refine
the result afterwards (text holding dates becomes D).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from ..catalog.fields import DataType

__all__ = ["MEMO_LENGTH", "catalog_type", "is_binary", "type_name"]

MEMO_LENGTH = 4000
"""Text longer than this (or unbounded text) is memo (M), not char (C)."""


def is_binary(type_: sa.types.TypeEngine[object]) -> bool:
    """BLOB / BYTEA / VARBINARY: never sampled (content is opaque and can be large)."""
    return isinstance(type_, sa.types._Binary)


def type_name(type_: sa.types.TypeEngine[object], dialect: Dialect) -> str:
    """The type as the database spells it (``VARCHAR(18)``), or its class name if it won't compile."""
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:
        return type(type_).__name__.upper()


def catalog_type(type_: sa.types.TypeEngine[object]) -> tuple[DataType, str, int | None]:
    """``(data type code, python type name, length)`` for a reflected column type."""
    kind = type(type_).__name__.upper()
    if kind in ("MONEY", "SMALLMONEY"):  # PostgreSQL / SQL Server currency types
        return DataType.CURRENCY, "Decimal", None
    if kind == "INTERVAL" or isinstance(type_, sa.Interval):
        return DataType.CHAR, "timedelta", None
    if isinstance(type_, sa.Boolean):
        return DataType.LOGICAL, "bool", None
    if isinstance(type_, sa.Integer):
        return DataType.INTEGER, "int", None
    if isinstance(type_, sa.Numeric) and not isinstance(type_, sa.Float):
        return DataType.NUMERIC, "Decimal", getattr(type_, "precision", None)
    if isinstance(type_, sa.Double) or kind in ("DOUBLE", "DOUBLE_PRECISION"):
        return DataType.DOUBLE, "float", None
    if isinstance(type_, sa.Float):
        return DataType.FLOAT, "float", None
    if isinstance(type_, sa.DateTime):
        return DataType.DATETIME, "datetime", None
    if isinstance(type_, sa.Date):
        return DataType.DATE, "date", None
    if isinstance(type_, sa.Time):
        return DataType.CHAR, "time", 8
    if is_binary(type_):
        return DataType.GENERAL, "bytes", getattr(type_, "length", None)
    if isinstance(type_, sa.JSON | sa.ARRAY):
        return DataType.GENERAL, "Any", None
    if isinstance(type_, sa.String):
        length = type_.length
        if isinstance(type_, sa.Text) or length is None or length > MEMO_LENGTH:
            return DataType.MEMO, "str", length
        return DataType.CHAR, "str", length
    return DataType.CHAR, "str", None
