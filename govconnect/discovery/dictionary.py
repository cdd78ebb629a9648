"""The dictionary of government data-element abbreviations: column name → title and meaning.

Legacy systems built by Chinese vendors name columns by the pinyin initials of the data element
(数据元): ``GMSFHM`` is 公民身份号码, ``XM`` 姓名, ``TYSHXYDM`` 统一社会信用代码. When a column has no
comment, the dictionary is the next best source of a title — and of a *meaning* (``kind``) that
the detectors use: a column called ``LXDH`` is a phone number even when its sampled values are all
blank, so it is personal information by its name alone.

Each entry is a :class:`Term`: the title, a ``kind`` (what the data element is, e.g. ``citizen_id``,
``name``, ``phone``, ``updated``; ``None`` for plain business data), whether it is personal
information, and the code table its values usually come from. The entries follow the data-element
names of GB/T 19488 (电子政务数据元) and the national population / legal-person basic databases, plus
the English names vendors use. Plugins extend or override entries through the
``discovery_dictionary`` hook (see ``docs/plugin_hooks.md``).

Lookup (:meth:`Dictionary.lookup`) is case-insensitive and tries the whole column name first, then
the last ``_``-separated part (``SQR_SFZH`` → ``SFZH``), so applicant/agent prefixes still resolve.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["BUILTIN_TERMS", "PERSONAL_KINDS", "Dictionary", "Term"]

PERSONAL_KINDS = frozenset(
    {
        "citizen_id",
        "name",
        "gender",
        "ethnicity",
        "birth_date",
        "phone",
        "address",
        "email",
        "bank_card",
        "passport",
        "personal",
    }
)
"""Kinds that make a column personal information (个人信息) by their meaning alone."""


@dataclass(frozen=True)
class Term:
    """One data element: its title, what it is (``kind``), and the code table it usually uses."""

    title: str
    kind: str | None = None
    code_table: str | None = None

    @property
    def personal(self) -> bool:
        return self.kind in PERSONAL_KINDS


def _t(title: str, kind: str | None = None, code_table: str | None = None) -> Term:
    return Term(title, kind, code_table)


_CITIZEN_ID = _t("公民身份号码", "citizen_id")
_CREDIT = _t("统一社会信用代码", "credit_code")
_NAME = _t("姓名", "name")
_GENDER = _t("性别", "gender", "gender")
_ETHNICITY = _t("民族", "ethnicity", "ethnicity")
_BIRTH = _t("出生日期", "birth_date")
_PHONE = _t("联系电话", "phone")
_ADDRESS = _t("地址", "address")
_EMAIL = _t("电子邮箱", "email")
_UPDATED = _t("更新时间", "updated")
_CREATED = _t("创建时间", "created")

BUILTIN_TERMS: Mapping[str, Term] = {
    # --- persons (人口基础信息) --------------------------------------------------------------------
    "gmsfhm": _CITIZEN_ID,
    "sfzh": _CITIZEN_ID,
    "sfzhm": _CITIZEN_ID,
    "zjhm": _t("证件号码", "citizen_id"),
    "zjlx": _t("证件类型", None),
    "xm": _NAME,
    "cym": _t("曾用名", "name"),
    "xb": _GENDER,
    "xbdm": _GENDER,
    "mz": _ETHNICITY,
    "mzdm": _ETHNICITY,
    "csrq": _BIRTH,
    "csd": _t("出生地", "address"),
    "jg": _t("籍贯", "personal"),
    "gj": _t("国籍", None),
    "hyzk": _t("婚姻状况", "personal"),
    "whcd": _t("文化程度", "personal"),
    "zzmm": _t("政治面貌", "personal"),
    "zy": _t("职业", "personal"),
    "zw": _t("职务", None),
    "xx": _t("血型", "personal"),
    "zjxy": _t("宗教信仰", "personal"),
    "jkzk": _t("健康状况", "personal"),
    "lxdh": _PHONE,
    "sjhm": _t("手机号码", "phone"),
    "yddh": _t("移动电话", "phone"),
    "gddh": _t("固定电话", "phone"),
    "dh": _t("电话", "phone"),
    "dzyx": _EMAIL,
    "yx": _EMAIL,
    "jzdz": _t("居住地址", "address"),
    "hjdz": _t("户籍地址", "address"),
    "xzz": _t("现住址", "address"),
    "zz": _t("住址", "address"),
    "txdz": _t("通讯地址", "address"),
    "lxdz": _t("联系地址", "address"),
    "xxdz": _t("详细地址", "address"),
    "dz": _ADDRESS,
    "yzbm": _t("邮政编码", None),
    "hh": _t("户号", None),
    "hzxm": _t("户主姓名", "name"),
    "yhzgx": _t("与户主关系", "personal"),
    "jhrxm": _t("监护人姓名", "name"),
    "lxrxm": _t("联系人姓名", "name"),
    "lxr": _t("联系人", "name"),
    "sqr": _t("申请人", "name"),
    "sqrxm": _t("申请人姓名", "name"),
    "dlrxm": _t("代理人姓名", "name"),
    "yhkh": _t("银行卡号", "bank_card"),
    "yhzh": _t("银行账号", "bank_card"),
    "khh": _t("开户行", None),
    "hzhm": _t("护照号码", "passport"),
    "swrq": _t("死亡日期", "personal"),
    "zp": _t("照片", "personal"),
    "jzzbh": _t("居住证编号", "personal"),
    # --- legal persons (法人基础信息) --------------------------------------------------------------
    "tyshxydm": _CREDIT,
    "shxydm": _CREDIT,
    "xydm": _CREDIT,
    "zzjgdm": _t("组织机构代码", "org_code"),
    "jgdm": _t("机构代码", "org_code"),
    "dwmc": _t("单位名称", None),
    "jgmc": _t("机构名称", None),
    "qymc": _t("企业名称", None),
    "frmc": _t("法人名称", None),
    "fddbr": _t("法定代表人", "name"),
    "fddbrxm": _t("法定代表人姓名", "name"),
    "fzr": _t("负责人", "name"),
    "zczb": _t("注册资本", None),
    "zcdz": _t("注册地址", None),
    "jyfw": _t("经营范围", None),
    "jyzt": _t("经营状态", None),
    "clrq": _t("成立日期", None),
    "djjg": _t("登记机关", None),
    "hylb": _t("行业类别", None),
    "qylx": _t("企业类型", None),
    "zch": _t("注册号", None),
    # --- administration, matters and cases (政务服务) ---------------------------------------------
    "xzqh": _t("行政区划代码", None),
    "xzqhdm": _t("行政区划代码", None),
    "sqbh": _t("申请编号", None),
    "bjbh": _t("办件编号", None),
    "sxbm": _t("事项编码", None),
    "sxmc": _t("事项名称", None),
    "slrq": _t("受理日期", None),
    "slsj": _t("受理时间", None),
    "bjrq": _t("办结日期", None),
    "bjsj": _t("办结时间", None),
    "blzt": _t("办理状态", None),
    "clzt": _t("处理状态", None),
    "zt": _t("状态", None),
    "bz": _t("备注", None),
    "jbr": _t("经办人", "name"),
    "czr": _t("操作人", None),
    "djrq": _t("登记日期", None),
    "djsj": _t("登记时间", None),
    "yxqz": _t("有效期至", None),
    "fzrq": _t("发证日期", None),
    "zsbh": _t("证书编号", None),
    "je": _t("金额", None),
    "bzje": _t("补助金额", None),
    "ffrq": _t("发放日期", None),
    "jzlx": _t("救助类型", None),
    "gxsj": _UPDATED,
    "gxrq": _t("更新日期", "updated"),
    "cjsj": _CREATED,
    "lrsj": _t("录入时间", "created"),
    "xgsj": _t("修改时间", "updated"),
    "sjc": _t("时间戳", "updated"),
    "scbz": _t("删除标志", None),
    "yxbz": _t("有效标志", None),
    "id": _t("标识", None),
    "bh": _t("编号", None),
    "dm": _t("代码", None),
    "mc": _t("名称", None),
    # --- English names vendors use -----------------------------------------------------------------
    "citizen_id": _CITIZEN_ID,
    "id_card": _CITIZEN_ID,
    "id_number": _CITIZEN_ID,
    "credit_code": _CREDIT,
    "uscc": _CREDIT,
    "name": _NAME,
    "full_name": _NAME,
    "gender": _GENDER,
    "sex": _GENDER,
    "ethnicity": _ETHNICITY,
    "nation": _ETHNICITY,
    "birth_date": _BIRTH,
    "birthday": _BIRTH,
    "dob": _BIRTH,
    "phone": _PHONE,
    "mobile": _t("手机号码", "phone"),
    "tel": _PHONE,
    "telephone": _PHONE,
    "email": _EMAIL,
    "address": _ADDRESS,
    "addr": _ADDRESS,
    "bank_card": _t("银行卡号", "bank_card"),
    "bank_account": _t("银行账号", "bank_card"),
    "passport": _t("护照号码", "passport"),
    "region_code": _t("行政区划代码", None),
    "status": _t("状态", None),
    "remark": _t("备注", None),
    "amount": _t("金额", None),
    "created_at": _CREATED,
    "create_time": _CREATED,
    "updated_at": _UPDATED,
    "update_time": _UPDATED,
    "modified_at": _UPDATED,
    "last_modified": _UPDATED,
}
"""The built-in entries (lower-case keys). ``docs/discovery.md`` lists the kinds."""

_SPLIT = re.compile(r"[_\-\s.]+")


class Dictionary:
    """Case-insensitive lookup of column names; later ``update`` calls override earlier entries."""

    def __init__(self, terms: Mapping[str, Term] | None = None) -> None:
        self._terms: dict[str, Term] = {}
        self.update(BUILTIN_TERMS if terms is None else terms)

    def update(self, terms: Mapping[str, Term | str]) -> None:
        """Add or replace entries; a plain string value is a title with no kind."""
        for key, value in terms.items():
            term = value if isinstance(value, Term) else Term(str(value))
            self._terms[key.strip().lower()] = term

    def __len__(self) -> int:
        return len(self._terms)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._terms

    def items(self) -> Iterable[tuple[str, Term]]:
        return self._terms.items()

    def find(self, column: str) -> tuple[str, Term] | None:
        """``(entry key, term)`` for a column name: the whole name, else its last part."""
        key = column.strip().lower()
        if key in self._terms:
            return key, self._terms[key]
        parts = [p for p in _SPLIT.split(key) if p]
        if len(parts) > 1 and parts[-1] in self._terms:
            return parts[-1], self._terms[parts[-1]]
        return None

    def lookup(self, column: str) -> Term | None:
        found = self.find(column)
        return found[1] if found else None

    def by_title(self, text: str | None) -> Term | None:
        """The term whose title is ``text`` exactly (a Chinese comment or identifier)."""
        if not text:
            return None
        wanted = text.strip()
        return next((t for t in self._terms.values() if t.title == wanted), None)
