"""Code tables: national (and local) codes that legacy systems store instead of words.

A legacy system stores gender as ``1`` and ethnicity as ``01``; the intake platform sends ``男`` and
``汉族``. Code tables translate both ways, by name, and plugins contribute or override them through the
``register_code_tables`` hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .._exceptions import InvalidInputError, Problem

__all__ = ["ETHNICITY", "GENDER", "NATIONAL_CODE_TABLES", "CodeTable"]


@dataclass(frozen=True)
class CodeTable:
    """A named, two-way table between codes and labels (e.g. GB/T 2261.1 gender codes).

    ``aliases`` map other spellings a caller may send (``"male"``, ``"M"``) to a code.
    """

    name: str
    title: str
    codes: Mapping[str, str]
    aliases: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        labels = {label: code for code, label in self.codes.items()}
        object.__setattr__(self, "_by_label", labels)

    def code_for(self, value: str) -> str:
        """The code for a label, an alias or a code itself; ``InvalidInputError`` when unknown."""
        text = str(value).strip()
        if text in self.codes:
            return text
        by_label: dict[str, str] = self._by_label  # type: ignore[attr-defined]
        if text in by_label:
            return by_label[text]
        if text in self.aliases:
            return self.aliases[text]
        raise InvalidInputError(
            [Problem(self.name, "code_table", f"{text!r} is not a code or label of {self.title}")]
        )

    def label_for(self, code: str) -> str:
        """The label for a code; ``InvalidInputError`` when unknown."""
        try:
            return self.codes[str(code).strip()]
        except KeyError:
            raise InvalidInputError(
                [Problem(self.name, "code_table", f"{code!r} is not a code of {self.title}")]
            ) from None


GENDER = CodeTable(
    name="gender",
    title="GB/T 2261.1 human sex",
    codes={"0": "未知的性别", "1": "男", "2": "女", "9": "未说明的性别"},
    aliases={"男性": "1", "女性": "2", "M": "1", "F": "2", "male": "1", "female": "2"},
)

_ETHNIC_GROUPS = [
    "汉族",
    "蒙古族",
    "回族",
    "藏族",
    "维吾尔族",
    "苗族",
    "彝族",
    "壮族",
    "布依族",
    "朝鲜族",
    "满族",
    "侗族",
    "瑶族",
    "白族",
    "土家族",
    "哈尼族",
    "哈萨克族",
    "傣族",
    "黎族",
    "傈僳族",
    "佤族",
    "畲族",
    "高山族",
    "拉祜族",
    "水族",
    "东乡族",
    "纳西族",
    "景颇族",
    "柯尔克孜族",
    "土族",
    "达斡尔族",
    "仫佬族",
    "羌族",
    "布朗族",
    "撒拉族",
    "毛南族",
    "仡佬族",
    "锡伯族",
    "阿昌族",
    "普米族",
    "塔吉克族",
    "怒族",
    "乌孜别克族",
    "俄罗斯族",
    "鄂温克族",
    "德昂族",
    "保安族",
    "裕固族",
    "京族",
    "塔塔尔族",
    "独龙族",
    "鄂伦春族",
    "赫哲族",
    "门巴族",
    "珞巴族",
    "基诺族",
]

ETHNICITY = CodeTable(
    name="ethnicity",
    title="GB/T 3304 nationalities of China",
    codes={f"{i:02d}": label for i, label in enumerate(_ETHNIC_GROUPS, start=1)},
    aliases={label.removesuffix("族"): f"{i:02d}" for i, label in enumerate(_ETHNIC_GROUPS, 1)},
)

NATIONAL_CODE_TABLES: tuple[CodeTable, ...] = (GENDER, ETHNICITY)
