"""Address codes (地址码): the province part always, the full GB/T 2260 code when asked.

The first two digits of a citizen ID's address code name a province-level division; a number whose
province does not exist is a typing error, so that check is always on. The full six-digit code is
checked against GB/T 2260 *including historical codes* only when a field asks for it
(:class:`RegionCheck`): people keep the number issued under a county code that was later
abolished, and a code created after someone's birth still appears on the numbers of people who
registered there later, so no year window is applied (python-stdnum applies one, and rejects
valid numbers because of it — see ``docs/identity.md``).

The data (``gbt2260.txt`` beside this module) is loaded on first use; its header states its
source, date and terms.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cache
from importlib import resources

__all__ = ["PERMIT_CODES", "PROVINCES", "RegionCheck", "region_problem", "region_status"]


class RegionCheck(StrEnum):
    """How strictly a six-digit address code is checked (the province part is always checked)."""

    PROVINCE = "province"  # the first two digits name a province-level division (the default)
    KNOWN = "known"  # the whole code is in GB/T 2260, current or historical
    CURRENT = "current"  # the whole code is a current GB/T 2260 code (newly issued numbers)


#: province-level divisions of GB/T 2260 (71 Taiwan included as the standard lists it)
PROVINCES: dict[str, str] = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
    "71": "台湾省",
    "81": "香港特别行政区",
    "82": "澳门特别行政区",
}

#: the address codes of residence permits for Hong Kong, Macao and Taiwan residents (2018): the
#: whole code is fixed, so "81" followed by anything but 0000 is not a number anyone holds
PERMIT_CODES = frozenset({"810000", "820000", "830000"})

#: the first two digits any GB 11643-shaped number may start with
NUMBER_PREFIXES = frozenset(PROVINCES) | {"83"}
PERMIT_PREFIXES = frozenset(code[:2] for code in PERMIT_CODES)


@cache
def _codes() -> dict[str, bool]:
    """Six-digit code -> current, from the shipped data file (parsed once, ~7,000 lines)."""
    text = resources.files(__package__).joinpath("gbt2260.txt").read_text(encoding="utf-8")
    return {
        line[:6]: not line.endswith(" h")
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def region_status(code: str) -> str | None:
    """``"current"``, ``"historical"`` or ``None`` (not a GB/T 2260 code) for a six-digit code."""
    current = _codes().get(code)
    return None if current is None else "current" if current else "historical"


def region_problem(code: str, check: RegionCheck = RegionCheck.PROVINCE) -> str | None:
    """Why ``code`` (six ASCII digits) cannot be the address code of a GB 11643 number, or
    ``None``. Permit codes pass every level: they are assigned by the permit rules, not GB/T 2260."""
    prefix = code[:2]
    if prefix not in NUMBER_PREFIXES:
        return f"address code {code}: {prefix} is not a province-level division code"
    if prefix in PERMIT_PREFIXES:
        if code not in PERMIT_CODES:
            return f"address code {code}: residence permits use exactly {prefix}0000"
        return None
    if check is RegionCheck.PROVINCE:
        return None
    current = _codes().get(code)
    if current is None:
        return f"address code {code} is not a GB/T 2260 code"
    if check is RegionCheck.CURRENT and not current:
        return f"address code {code} is a historical GB/T 2260 code, no longer current"
    return None
