"""Detectors: what the sampled values of one column say about it.

A detector looks at one column's evidence (its name, declared type, dictionary term and the
normalised non-blank sampled values) and returns findings — "this holds citizen IDs", "these are
gender codes", "this text holds dates", "these are phone numbers". Each finding carries one
sentence of reason with *counts only*: a sampled value never appears in a finding, because the
discovery report is shared with people who may not see the data itself.

Detectors are deliberately simple and explainable (regular expressions, check digits, code-table
membership) so a clerk can check the reasoning. Plugins add detectors through the
``register_detectors`` hook; a detector is any object with a ``name`` and a ``detect(column)``
method (see :class:`Detector`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Protocol, runtime_checkable

from ..catalog.codetables import CodeTable
from ..catalog.fields import DataType
from ..catalog.identity import CitizenId, CreditCode
from .dictionary import Term

__all__ = [
    "BUILTIN_DETECTORS",
    "IDENTITY_SHARE",
    "VALUE_SHARE",
    "ColumnEvidence",
    "Detector",
    "Finding",
    "PatternDetector",
    "share_sentence",
]

IDENTITY_SHARE = 0.6
"""An identity is suggested when at least this share of non-blank values validate ("most")."""
VALUE_SHARE = 0.8
"""Other value patterns (phones, e-mails, dates in text, code tables) need this share."""


@dataclass(frozen=True)
class ColumnEvidence:
    """What a detector may look at. ``values`` are non-blank sampled values, NFKC-normalised and
    stripped (full-width digits folded), as strings; they never leave the process."""

    table: str
    name: str
    data_type: DataType
    term: Term | None
    values: Sequence[str]
    blanks: int = 0
    code_tables: Mapping[str, CodeTable] = field(default_factory=dict)

    @property
    def is_text(self) -> bool:
        return self.data_type in (DataType.CHAR, DataType.MEMO)

    @cached_property
    def counts(self) -> Counter[str]:
        """Distinct values with their counts: code and date columns repeat a few values a lot,
        so tests run once per distinct value."""
        return Counter(self.values)


@dataclass(frozen=True)
class Finding:
    """One suggestion: ``aspect`` is ``identity``, ``code_table``, ``temporal`` or ``personal``;
    ``value`` the suggestion (``citizen_id``, ``gender``, ``date``, ``phone``…)."""

    aspect: str
    value: str
    reason: str
    strong: bool = True
    """Weak findings (names, addresses told by shape) yield to a dictionary term that says the
    column is known business data, e.g. a company's registered address."""


@runtime_checkable
class Detector(Protocol):
    """The extension point: ``name`` for reports, ``detect`` returning zero or more findings."""

    name: str

    def detect(self, column: ColumnEvidence) -> Iterable[Finding]: ...


def share_sentence(hits: int, total: int, what: str) -> str:
    """``"974 of 1000 sampled non-blank values are valid GB 11643 citizen IDs"``."""
    return f"{hits} of {total} sampled non-blank values {what}"


SCREEN = 64
"""After this many values, a test passing fewer than half the required share is given up: for
a column that really reaches the share, that happens with a probability below one in a million
(binomial tail), and it spares the other ~200 tests a non-matching column would take."""


def _count(column: ColumnEvidence, test: Callable[[str], bool], share: float = 0.0) -> int:
    """How many sampled values pass ``test`` — or ``-1`` as soon as ``share`` can no longer be
    reached (most columns fail most tests within their first few values, so this is what keeps
    discovery of wide schemas fast)."""
    allowed_misses = len(column.values) * (1.0 - share)
    hits = misses = 0
    screened = share == 0.0 or len(column.values) < 2 * SCREEN
    for value, n in column.counts.items():
        if test(value):
            hits += n
        else:
            misses += n
            if misses > allowed_misses:
                return -1
        if not screened and hits + misses >= SCREEN:
            screened = True
            if hits < share * (hits + misses) / 2:
                return -1
    return hits


def _valid(parse: Callable[[str], object]) -> Callable[[str], bool]:
    def test(value: str) -> bool:
        if len(value) != 18:
            return False
        try:
            parse(value)
        except ValueError:
            return False
        return True

    return test


class IdentityDetector:
    """Citizen IDs (GB 11643 check digit and birth date) and credit codes (GB 32100, both checks)."""

    name = "identity"
    _kinds = (
        ("citizen_id", _valid(CitizenId.parse), "GB 11643 citizen IDs"),
        ("credit_code", _valid(CreditCode.parse), "GB 32100 credit codes"),
    )

    def detect(self, column: ColumnEvidence) -> Iterable[Finding]:
        values = column.values
        if not values or not column.is_text:
            return
        for kind, test, label in self._kinds:
            what = f"are valid {label}"
            named = column.term is not None and column.term.kind == kind
            hits = _count(column, test, 0.0 if named else IDENTITY_SHARE)
            if hits and hits >= IDENTITY_SHARE * len(values):
                yield Finding("identity", kind, share_sentence(hits, len(values), what) + ".")
                return
            if named:
                yield Finding(
                    "note",
                    kind,
                    f"the name suggests {label}, but only "
                    + share_sentence(hits, len(values), what)
                    + f" (below {IDENTITY_SHARE:.0%}).",
                )


class CodeTableDetector:
    """The code table whose codes (or labels) hold the sampled values.

    Small code tables overlap (``1``/``2`` are gender codes and also half the status flags of every
    legacy system), so a fit counts only when the column's name points at the table (dictionary
    term or table name), when the values are the table's labels, or when at least five distinct
    codes are seen.
    """

    name = "code_table"

    def detect(self, column: ColumnEvidence) -> Iterable[Finding]:
        values = column.values
        if not values or (not column.is_text and column.data_type is not DataType.INTEGER):
            return
        distinct = set(values)
        hinted = column.term.code_table if column.term else None
        best: tuple[float, CodeTable, int, bool] | None = None
        for table in column.code_tables.values():
            labels = set(table.codes.values())
            codes = set(table.codes) | set(table.aliases)
            hits = _count(column, lambda v, c=codes, lb=labels: v in c or v in lb, VALUE_SHARE)  # type: ignore[misc]
            if hits < 0:
                continue
            share = hits / len(values)
            by_label = bool(distinct & labels)
            named = table.name in (hinted, column.name.lower())
            if not (named or by_label or len(distinct) >= 5):
                continue
            score = share + (1.0 if named else 0.0)
            if best is None or score > best[0]:
                best = (score, table, hits, named)
        if best is not None:
            _, table, hits, named = best
            why = share_sentence(hits, len(values), f"are codes or labels of {table.title}")
            if named:
                why += ", and the column name points at it"
            yield Finding("code_table", table.name, why + ".")


_DATE_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (re.compile(r"(\d{4})(\d{2})(\d{2})"), "date", "YYYYMMDD"),
    (re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})"), "date", "YYYY-MM-DD"),
    (re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日"), "date", "YYYY年MM月DD日"),
    (
        re.compile(r"(\d{4})[-/]?(\d{2})[-/]?(\d{2})[ T]?(\d{2}):?(\d{2}):?(\d{2})(?:\.\d+)?"),
        "datetime",
        "date and time",
    ),
)


def _parse_temporal(value: str, pattern: re.Pattern[str]) -> bool:
    match = pattern.fullmatch(value)
    if match is None:
        return False
    parts = [int(p) for p in match.groups()]
    if not 1900 <= parts[0] <= 2100:
        return False
    try:
        datetime(*parts) if len(parts) == 6 else date(*parts)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


class DateTextDetector:
    """Text columns holding dates (``19850312``, ``1985-03-12``, ``1985年3月12日``) or timestamps."""

    name = "dates_in_text"

    def detect(self, column: ColumnEvidence) -> Iterable[Finding]:
        values = column.values
        if not values or not column.is_text:
            return
        for pattern, kind, shape in _DATE_PATTERNS:
            hits = _count(column, lambda v, p=pattern: _parse_temporal(v, p), VALUE_SHARE)  # type: ignore[misc]
            if hits >= 0:
                what = f"are calendar {kind}s written as {shape} text"
                yield Finding("temporal", kind, share_sentence(hits, len(values), what) + ".")
                return


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏"
    "魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵"
    "万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳"
)
_COMPOUND = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "慕容", "令狐", "司徒", "尉迟")
_CJK_NAME = re.compile(r"[\u4e00-\u9fff·]{2,5}")


def _is_person_name(value: str) -> bool:
    if not _CJK_NAME.fullmatch(value):
        return False
    return value[0] in _SURNAMES or value.startswith(_COMPOUND)


_ADMIN = re.compile(r"[省市区县镇乡州旗]")
_STREET = re.compile(r"[路街号村巷弄室栋楼组]|单元|小区")
_ORG_SUFFIX = ("公司", "中心", "局", "委员会", "厂", "店", "院", "所", "社", "站", "部", "处")


def _is_address(value: str) -> bool:
    return (
        len(value) >= 6
        and bool(_ADMIN.search(value))
        and bool(_STREET.search(value))
        and not value.endswith(_ORG_SUFFIX)
    )


_PATTERNS: tuple[tuple[str, Callable[[str], bool], str, bool], ...] = (
    (
        "phone",
        re.compile(r"(?:\+?86[- ]?)?1[3-9]\d{9}").fullmatch,
        "are mobile phone numbers",
        True,
    ),  # type: ignore[list-item]
    (
        "phone",
        re.compile(r"0\d{2,3}-?\d{7,8}(?:-\d{1,5})?").fullmatch,  # type: ignore[list-item]
        "are landline phone numbers",
        True,
    ),
    (
        "email",
        re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}").fullmatch,  # type: ignore[list-item]
        "are e-mail addresses",
        True,
    ),
    (
        "bank_card",
        lambda v: 16 <= len(v) <= 19 and v.isdigit() and v.isascii() and _luhn(v),
        "are bank card numbers (16-19 digits, Luhn check)",
        True,
    ),
    ("name", _is_person_name, "look like personal names (common surname, 2-5 characters)", False),
    ("address", _is_address, "look like street addresses", False),
)


class PatternDetector:
    """Personal information told by shape: phones, e-mails, bank cards, names, addresses.

    ``patterns`` are ``(kind, test, what, strong)``; the first kind whose share reaches
    ``share`` wins. Plugins can build their own (``PatternDetector([("plate", test, ...)])``).
    """

    name = "personal_patterns"

    def __init__(
        self,
        patterns: Sequence[tuple[str, Callable[[str], bool], str, bool]] = _PATTERNS,
        share: float = VALUE_SHARE,
    ) -> None:
        self.patterns = tuple(patterns)
        self.share = share

    def detect(self, column: ColumnEvidence) -> Iterable[Finding]:
        values = column.values
        if not values or not column.is_text:
            return
        for kind, test, what, strong in self.patterns:
            hits = _count(column, test, self.share)
            if hits >= 0:
                reason = share_sentence(hits, len(values), what) + "."
                yield Finding("personal", kind, reason, strong=strong)
                return


BUILTIN_DETECTORS: tuple[Detector, ...] = (
    IdentityDetector(),
    CodeTableDetector(),
    DateTextDetector(),
    PatternDetector(),
)
"""Registered by the built-in plugin through ``register_detectors``."""
