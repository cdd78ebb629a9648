"""Reading fixed-width drop files with the same layout the file-drop sink writes them with."""

from __future__ import annotations

from pathlib import Path

import pytest

from govconnect import FixedField, FixedWidthLayout, InvalidInputError, RecordCountTrailer

LAYOUT = FixedWidthLayout(
    fields=(
        FixedField("LX", 1),
        FixedField("XM", 10, title="姓名"),
        FixedField("JE", 6, align="right", pad="0"),
    )
)
TRAILER = RecordCountTrailer()


def _file(path: Path, rows: list[dict[str, str]], encoding: str, count: int | None) -> Path:
    with path.open("wb") as fh:
        for row in rows:
            fh.write(LAYOUT.encode({"LX": "D", **row}, encoding) + b"\r\n")
        if count is not None:
            fh.write(TRAILER.encode(count, LAYOUT.record_width, encoding) + b"\r\n")
    return path


@pytest.mark.parametrize("encoding", ["gb18030", "utf-8"])
def test_a_file_reads_back_what_was_written(tmp_path: Path, encoding: str) -> None:
    rows = [{"XM": "欧阳娜", "JE": "12"}, {"XM": "张三", "JE": "0"}]
    path = _file(tmp_path / "a.DAT", rows, encoding, 2)
    assert TRAILER.announced(path, LAYOUT.record_width) == 2
    read = list(LAYOUT.read(path, encoding, trailer=TRAILER, record_type="D"))
    assert read == [("a.DAT:1", rows[0]), ("a.DAT:2", rows[1])]


def test_a_miscounted_file_is_refused_before_any_record(tmp_path: Path) -> None:
    path = _file(tmp_path / "b.DAT", [{"XM": "李四", "JE": "1"}], "gb18030", 3)
    with pytest.raises(InvalidInputError) as info:
        next(LAYOUT.read(path, "gb18030", trailer=TRAILER))
    assert (info.value.problems[0].field, info.value.problems[0].rule) == (
        "b.DAT",
        "drop_file.count",
    )


def test_a_file_without_trailer_is_still_being_written(tmp_path: Path) -> None:
    path = _file(tmp_path / "c.DAT", [{"XM": "李四", "JE": "1"}], "gb18030", None)
    assert TRAILER.announced(path, LAYOUT.record_width) is None
    with pytest.raises(InvalidInputError) as info:
        next(LAYOUT.read(path, "gb18030", trailer=TRAILER))
    assert info.value.problems[0].rule == "drop_file.no_trailer"
    assert [values for _, values in LAYOUT.read(path, "gb18030")] == [
        {"LX": "D", "XM": "李四", "JE": "1"}
    ]


def test_a_malformed_line_is_none_and_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "d.DAT"
    good = LAYOUT.encode({"LX": "D", "XM": "王五", "JE": "5"}, "gb18030")
    path.write_bytes(good + b"\r\n" + b"Dshort\r\n" + TRAILER.encode(2, 17, "gb18030") + b"\r\n")
    read = list(LAYOUT.read(path, "gb18030", trailer=TRAILER, record_type="D"))
    assert read == [("d.DAT:1", {"XM": "王五", "JE": "5"}), ("d.DAT:2", None)]
    assert "d.DAT:2" in caplog.text


def test_parse_checks_length_type_and_encoding() -> None:
    with pytest.raises(InvalidInputError) as info:
        LAYOUT.parse(b"X" + b" " * 16, "gb18030", "f:9", record_type="D")
    assert (info.value.problems[0].field, info.value.problems[0].rule) == (
        "f:9",
        "fixed_width.record",
    )
    with pytest.raises(InvalidInputError) as info:
        LAYOUT.parse(b"D" + b"\xff" * 10 + b"000001", "utf-8", "f:10")
    assert info.value.problems[0].rule == "fixed_width.encoding"
