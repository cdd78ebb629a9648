"""The fixed-width record layout of the case system's drop files, in bytes of GB18030.

The social-assistance case system (社会救助案件管理系统) has no API. Every night it writes the cases
it changed into its drop folder as ``MZJZ_<YYYYMMDD>_<NNN>.DAT``: one line per case, fields at fixed
byte offsets, text in GB18030, lines ended by CRLF, and a trailer line last. Widths count *bytes*:
an ASCII character is one byte and a Chinese character two (GB18030 encodes the rare characters
outside the BMP in four), so ``姓名`` holds at most ten Chinese characters in its 20 bytes.

Data line (record type ``D``), 158 bytes before CRLF:

======  =====  =====  ==========  ===========================================================
offset  bytes  field  meaning     content
======  =====  =====  ==========  ===========================================================
0       1      LX     记录类型    ``D``
1       16     AJBH   案件编号    case number, e.g. ``MZ20260105000042``
17      18     SFZH   公民身份号码 GB 11643 citizen ID number
35      20     XM     姓名        name, GB18030, padded with spaces
55      1      XB     性别        GB/T 2261.1: ``1`` male, ``2`` female
56      6      XZQH   行政区划代码 administrative division of residence
62      2      JZLB   救助类别    ``01`` 最低生活保障 · ``02`` 特困人员供养 · ``03`` 临时救助 · ``04`` 医疗救助
64      2      JTRK   家庭人口    household size, zero-padded
66      9      JZJE   救助金额    monthly amount in fen (分), zero-padded
75      1      AJZT   案件状态    ``1`` 受理 · ``2`` 审核中 · ``3`` 已批准 · ``4`` 已终止
76      8      SLRQ   受理日期    YYYYMMDD
84      60     ZZ     住址        address, GB18030, padded with spaces
144     14     GXSJ   更新时间    YYYYMMDDHHMMSS
======  =====  =====  ==========  ===========================================================

An intake application (临时救助申请 from the one window) goes the other way, into the system's inbox
folder: one ``.dat`` file per case holding one data line of the same layout (:data:`INTAKE_LAYOUT`,
status ``1`` 受理), written by govconnect's ``FileDropSink`` with a manifest as its commit marker.

Trailer line (record type ``T``): ``T`` then the number of data lines as 9 digits, padded with
spaces to the same 158 bytes. A file without its trailer is still being written and is not read
yet; a trailer whose count disagrees with the lines is a broken file.
"""

from __future__ import annotations

from collections.abc import Mapping

from govconnect import CodeTable, FixedField, FixedWidthLayout, RecordCountTrailer

__all__ = [
    "CATEGORIES",
    "CATEGORY_TABLE",
    "ENCODING",
    "INTAKE_LAYOUT",
    "LAYOUT",
    "LINE_END",
    "RECORD_BYTES",
    "STATUSES",
    "TRAILER",
    "decode_line",
    "encode_line",
    "encode_trailer",
    "fit",
    "trailer_count",
]

ENCODING = "gb18030"
LINE_END = b"\r\n"

CATEGORIES = {"01": "最低生活保障", "02": "特困人员供养", "03": "临时救助", "04": "医疗救助"}
STATUSES = {"1": "受理", "2": "审核中", "3": "已批准", "4": "已终止"}
CATEGORY_TABLE = CodeTable(name="assistance_category", title="救助类别", codes=CATEGORIES)
"""Code table the intake mapping translates the one window's category label through."""


def _text(name: str, width: int, title: str) -> FixedField:
    return FixedField(name, width, title=title)


def _number(name: str, width: int, title: str) -> FixedField:
    """Numbers are zero-padded on the left."""
    return FixedField(name, width, align="right", pad="0", title=title)


LAYOUT = FixedWidthLayout(
    fields=(
        _text("LX", 1, "记录类型"),
        _text("AJBH", 16, "案件编号"),
        _text("SFZH", 18, "公民身份号码"),
        _text("XM", 20, "姓名"),
        _text("XB", 1, "性别"),
        _text("XZQH", 6, "行政区划代码"),
        _text("JZLB", 2, "救助类别"),
        _number("JTRK", 2, "家庭人口"),
        _number("JZJE", 9, "救助金额(分)"),
        _text("AJZT", 1, "案件状态"),
        _text("SLRQ", 8, "受理日期"),
        _text("ZZ", 60, "住址"),
        _text("GXSJ", 14, "更新时间"),
    )
)
"""The data-line layout: govconnect's own fixed-width layout, used to read drop files and to write
intake applications into the inbox (``FileDropSink``)."""
RECORD_BYTES = LAYOUT.record_width
INTAKE_LAYOUT = LAYOUT
TRAILER = RecordCountTrailer(prefix="T", digits=9)
"""The trailer line: ``T`` and the data-line count; govconnect checks it before reading a file."""


def fit(text: str, width: int) -> str:
    """The longest prefix of ``text`` whose GB18030 bytes fit ``width`` (never half a character)."""
    out = []
    used = 0
    for char in text:
        size = len(char.encode(ENCODING))
        if used + size > width:
            break
        out.append(char)
        used += size
    return "".join(out)


def encode_line(values: Mapping[str, str]) -> bytes:
    """One data line (with CRLF) from legacy field values; a value too wide is refused."""
    return LAYOUT.encode({"LX": "D", **values}, ENCODING) + LINE_END


def encode_trailer(count: int) -> bytes:
    return TRAILER.encode(count, RECORD_BYTES, ENCODING) + LINE_END


def decode_line(line: bytes, where: str = "line") -> dict[str, str]:
    """Legacy field values of one data line, each sliced by bytes and then decoded (govconnect's
    layout reading: wrong length, record type or encoding raise naming ``where``)."""
    return LAYOUT.parse(line, ENCODING, where, record_type="D")


def trailer_count(line: bytes) -> int | None:
    """The data-line count a trailer line announces, or ``None`` when it is not a trailer."""
    return TRAILER.count(line, RECORD_BYTES)
