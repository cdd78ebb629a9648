"""The fixed-width layout counts GB18030 bytes, never characters."""

from __future__ import annotations

import pytest
from govconnect import InvalidInputError

from govconnect_civil_affairs.layout import (
    ENCODING,
    LAYOUT,
    RECORD_BYTES,
    decode_line,
    encode_line,
    encode_trailer,
    fit,
    trailer_count,
)
from govconnect_civil_affairs.sample import sample_cases


def test_layout_widths_add_up_to_the_documented_record() -> None:
    assert RECORD_BYTES == 158
    assert [c.name for c in LAYOUT][:4] == ["LX", "AJBH", "SFZH", "XM"]


def test_chinese_characters_take_two_bytes() -> None:
    case = next(sample_cases(1))
    line = encode_line({**case, "XM": "欧阳娜娜"})
    assert len(line) == RECORD_BYTES + 2
    name_bytes = line[35:55]
    assert name_bytes == "欧阳娜娜".encode(ENCODING) + b" " * 12
    assert decode_line(line)["XM"] == "欧阳娜娜"


def test_round_trip_of_every_sample_case() -> None:
    for case in sample_cases(200):
        assert decode_line(encode_line(case)) == case


def test_a_value_too_wide_in_bytes_is_refused() -> None:
    case = next(sample_cases(1))
    with pytest.raises(InvalidInputError) as info:
        encode_line({**case, "XM": "张" * 11})  # 11 characters, 22 bytes > 20
    assert info.value.problems[0].rule == "fixed_width.too_long"


def test_fit_never_splits_a_character() -> None:
    assert fit("北京市朝阳区", 5) == "北京"
    assert fit("A北京", 4) == "A北"


def test_numbers_are_zero_padded() -> None:
    line = encode_line(next(sample_cases(1)))
    assert line[64:66].isdigit() and line[66:75].isdigit()


def test_trailer() -> None:
    assert trailer_count(encode_trailer(42)) == 42
    assert trailer_count(encode_line(next(sample_cases(1)))) is None


@pytest.mark.parametrize("bad", [b"D" + b" " * 10, b"X" + b" " * (RECORD_BYTES - 1)])
def test_malformed_line_names_the_rule(bad: bytes) -> None:
    with pytest.raises(InvalidInputError) as info:
        decode_line(bad, "f.DAT:3")
    assert info.value.problems[0].field == "f.DAT:3"
