"""The resource catalog (政务信息资源目录) as a document, and the rules it must obey.

The catalog is built from every loaded connector's services, but it is also a document in its own
right: exported as JSON, read back, diffed against the platform's copy. So the model is plain data
(no references to code) and the rules run over the document: :func:`catalog_problems` reports every
broken rule of a catalog at once, each naming the resource, the field and the rule.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    computed_field,
    model_serializer,
)

from .._exceptions import CatalogValidationError, Problem
from .._validation import problems_from_pydantic
from .fields import InformationItem

__all__ = [
    "CATALOG_SCHEMA_VERSION",
    "DRAFTABLE",
    "KEY_ELEMENTS",
    "Catalog",
    "Category",
    "OpenAttributes",
    "Provider",
    "Resource",
    "ResourceFormat",
    "Sharing",
    "SharingMethod",
    "SharingType",
    "UpdateCycle",
    "catalog_problems",
    "drafted_values",
    "parse_resource_code",
    "refuse_drafts",
    "resource_problems",
]

CATALOG_SCHEMA_VERSION = 1

DRAFTABLE = (
    "code",
    "name",
    "abstract",
    "sharing.type",
    "sharing.conditions",
    "sharing.legal_basis",
    "sharing.method",
    "open.public",
    "open.conditions",
    "update_cycle",
    "published",
)
"""Resource fields a generator may fill with a draft for a person to decide (``Resource.drafts``);
an information item's ``items.<name>.title`` / ``.level`` / ``.personal`` may be drafted too."""
_ITEM_DRAFTABLE = ("title", "level", "personal")

RESOURCE_CODE = re.compile(
    r"^(?P<cls>[1-3])(?P<item>\d{2})(?P<cat>\d{3})(?P<detail>\d*)/(?P<seq>\d+)$"
)
KEY_ELEMENTS = {"citizen_id": "公民身份号码", "credit_code": "统一社会信用代码"}
"""The key types of "one number to apply" (一号申请) and the data element that carries each: records
of different resources are the same person or company when these agree."""

CATEGORY_CLASSES = {"1": "基础信息资源", "2": "主题信息资源", "3": "部门信息资源"}


class SharingType(StrEnum):
    UNCONDITIONAL = "unconditional"  # 无条件共享
    CONDITIONAL = "conditional"  # 有条件共享
    NOT_SHARED = "not_shared"  # 不予共享


class SharingMethod(StrEnum):
    INTERFACE = "platform_interface"  # 共享平台 / 接口
    TABLE = "platform_table"  # 共享平台 / 库表
    FILE = "platform_file"  # 共享平台 / 文件
    OTHER = "other"  # 其他方式 (note required)


class ResourceFormat(StrEnum):
    ELECTRONIC_FILE = "electronic_file"  # 电子文件 (OFD, XML, DOCX…)
    SPREADSHEET = "spreadsheet"  # 电子表格 (XLSX, ET…)
    DATABASE = "database"  # 数据库
    IMAGE = "image"  # 图形图像
    STREAMING_MEDIA = "streaming_media"  # 流媒体
    SELF_DESCRIBING = "self_describing"  # 自描述格式 (API)


class UpdateCycle(StrEnum):
    REAL_TIME = "real_time"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half_yearly"
    YEARLY = "yearly"


class Provider(BaseModel):
    """提供方: the department that provides the resource, and the system it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name: str
    system_code: str
    system_name: str


class Sharing(BaseModel):
    """共享属性: the sharing type with its conditions (有条件) or legal basis (不予共享)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: SharingType
    conditions: str | None = None
    legal_basis: str | None = None
    method: SharingMethod = SharingMethod.INTERFACE
    method_note: str | None = None


class OpenAttributes(BaseModel):
    """开放属性: whether the resource is open to the public, and on which conditions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    public: bool = False
    conditions: str | None = None


class Category(BaseModel):
    """资源分类, read off the resource code: 类 · 项 · 目 · 细目."""

    code: str
    class_code: str
    class_name: str
    item: str
    catalog: str
    detail: str


class Resource(BaseModel):
    """One catalog entry (one service of one connector)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(description="资源代码: classification code / sequence code")
    version: int = Field(default=1, ge=1)
    name: str
    abstract: str
    kind: Literal["query", "dataset"]
    connector: str
    service: str
    provider: Provider
    format: ResourceFormat
    format_detail: str | None = None
    sharing: Sharing
    open: OpenAttributes = Field(default_factory=OpenAttributes)
    update_cycle: UpdateCycle
    published: date
    related: list[str] = Field(default_factory=list)
    items: list[InformationItem]
    drafts: list[str] = Field(
        default_factory=list,
        description="paths of values filled as drafts that a person must still decide",
    )
    authoritative: list[str] = Field(
        default_factory=list,
        description="data elements this resource is the authoritative source for (一数一源)",
    )

    @model_serializer(mode="wrap")
    def _omit_no_drafts(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """A decided resource is sent and exported exactly as before drafts existed; one that
        claims no authoritative element, exactly as before that claim existed."""
        data: dict[str, Any] = handler(self)
        if not self.drafts:
            data.pop("drafts", None)
        if not self.authoritative:
            data.pop("authoritative", None)
        return data

    def key_types(self) -> list[str]:
        """The key types (``citizen_id``, ``credit_code``) whose key element an item carries."""
        elements = {item.element for item in self.items}
        return [kind for kind, element in KEY_ELEMENTS.items() if element in elements]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def category(self) -> Category | None:
        return parse_resource_code(self.code)


class Catalog(BaseModel):
    """The catalog document: ``{"schema_version": 1, "resources": [...]}``, resources by code."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = CATALOG_SCHEMA_VERSION
    resources: list[Resource] = Field(default_factory=list)

    def by_code(self) -> dict[str, Resource]:
        return {r.code: r for r in self.resources}

    def get(self, code: str) -> Resource:
        for resource in self.resources:
            if resource.code == code:
                return resource
        raise KeyError(code)

    def problems(self) -> list[Problem]:
        return catalog_problems(self.resources)

    def validate_rules(self) -> Catalog:
        """Raise :class:`CatalogValidationError` listing every broken rule, else return self."""
        problems = self.problems()
        if problems:
            raise CatalogValidationError(problems)
        return self

    @classmethod
    def from_document(cls, data: Mapping[str, Any]) -> Catalog:
        """Parse a catalog document, reporting the problems of every resource together."""
        problems: list[Problem] = []
        if not isinstance(data, Mapping):
            raise CatalogValidationError(
                [Problem("catalog", "document", "a catalog document is a JSON object")]
            )
        raw = data.get("resources")
        if not isinstance(raw, list):
            raise CatalogValidationError(
                [Problem("resources", "document", "the document has no list under 'resources'")]
            )
        resources: list[Resource] = []
        for i, entry in enumerate(raw):
            label = entry.get("code", f"#{i}") if isinstance(entry, Mapping) else f"#{i}"
            try:
                resources.append(Resource.model_validate(_without_computed(entry)))
            except ValidationError as exc:
                problems.extend(problems_from_pydantic(exc, f"resources[{label}]"))
        problems.extend(catalog_problems(resources))
        if problems:
            raise CatalogValidationError(problems)
        return cls(schema_version=int(data.get("schema_version", 1)), resources=resources)


def _without_computed(entry: Any) -> Any:
    if isinstance(entry, Mapping):
        return {k: v for k, v in entry.items() if k != "category"}
    return entry


def parse_resource_code(code: str) -> Category | None:
    """The classification read off a well-formed resource code, else ``None``."""
    match = RESOURCE_CODE.match(code)
    if match is None:
        return None
    cls = match["cls"]
    return Category(
        code=code.split("/", 1)[0],
        class_code=cls,
        class_name=CATEGORY_CLASSES[cls],
        item=match["item"],
        catalog=match["cat"],
        detail=match["detail"],
    )


def _blank(value: str | None) -> bool:
    return value is None or not value.strip()


def resource_problems(resource: Resource) -> list[Problem]:
    """Rules that one resource obeys on its own (the catalog-wide ones are in catalog_problems)."""
    where = f"resources[{resource.code}]"
    out: list[Problem] = []

    def add(field: str, rule: str, message: str) -> None:
        out.append(Problem(f"{where}.{field}", rule, message))

    if parse_resource_code(resource.code) is None:
        add(
            "code",
            "resource_code.format",
            f"{resource.code!r} is not classification code / sequence code "
            "(类 1 digit 1-3, 项 2, 目 3, 细目 optional digits, '/', sequence digits), "
            "e.g. 111112001/2001",
        )
    for name in ("name", "abstract"):
        if _blank(getattr(resource, name)):
            add(name, f"{name}.required", f"{name} must not be blank")
    if _blank(resource.provider.code) or _blank(resource.provider.name):
        add("provider", "provider.required", "provider name and code must not be blank")
    sharing = resource.sharing
    if sharing.type is SharingType.CONDITIONAL and _blank(sharing.conditions):
        add(
            "sharing.conditions",
            "sharing.conditions_required",
            "conditional sharing (有条件共享) must state its conditions",
        )
    if sharing.type is SharingType.NOT_SHARED and _blank(sharing.legal_basis):
        add(
            "sharing.legal_basis",
            "sharing.legal_basis_required",
            "a resource that is not shared (不予共享) must cite its legal basis",
        )
    if sharing.method is SharingMethod.OTHER and _blank(sharing.method_note):
        add(
            "sharing.method_note",
            "sharing.method_note_required",
            "sharing by other means needs a note",
        )
    if resource.open.public and sharing.type is SharingType.NOT_SHARED:
        add(
            "open.public",
            "open.not_shared",
            "a resource that is not shared cannot be open to the public",
        )
    if not resource.items:
        add("items", "items.required", "a resource needs at least one information item")
    for name, count in Counter(item.name for item in resource.items).items():
        if count > 1:
            add(f"items.{name}", "items.unique", f"information item {name!r} appears {count} times")
    carried = {item.element for item in resource.items}
    for element in resource.authoritative:
        if element not in carried:
            add(
                "authoritative",
                "authoritative.carried",
                f"claims to be the authoritative source of {element!r} but no information item "
                "carries that element (field(..., element=...))",
            )
    if resource.code in resource.related:
        add("related", "related.self", "a resource cannot relate to itself")
    items = {item.name for item in resource.items}
    for path in resource.drafts:
        head, _, attr = path.rpartition(".")
        item_path = path.startswith("items.") and head[len("items.") :] in items
        if path not in DRAFTABLE and not (item_path and attr in _ITEM_DRAFTABLE):
            add(
                "drafts",
                "drafts.unknown",
                f"{path!r} names no draftable value (one of {', '.join(DRAFTABLE)}, "
                "or items.<item>.title / .level / .personal)",
            )
    return out


def drafted_values(resource: Resource) -> list[tuple[str, Any]]:
    """Each drafted path of ``resource`` with its current (draft) value, in declaration order."""
    items = {item.name: item for item in resource.items}
    out: list[tuple[str, Any]] = []
    for path in resource.drafts:
        if path.startswith("items."):
            name, _, attr = path[len("items.") :].rpartition(".")
            value: Any = getattr(items.get(name), attr, None)
        else:
            value = resource
            for part in path.split("."):
                value = getattr(value, part, None)
        out.append((path, value.value if isinstance(value, StrEnum) else value))
    return out


def catalog_problems(resources: Iterable[Resource]) -> list[Problem]:
    """Every broken rule of a catalog: per-resource rules, unique codes, one authoritative source
    per element and key type, related codes resolve."""
    resources = list(resources)
    out: list[Problem] = []
    for resource in resources:
        out.extend(resource_problems(resource))
    counts = Counter(r.code for r in resources)
    for code, count in counts.items():
        if count > 1:
            owners = ", ".join(f"{r.connector}.{r.service}" for r in resources if r.code == code)
            out.append(
                Problem(
                    f"resources[{code}].code",
                    "resource_code.unique",
                    f"resource code used {count} times ({owners})",
                )
            )
    out.extend(_authority_problems(resources))
    known = set(counts)
    for resource in resources:
        for related in resource.related:
            if related not in known and related != resource.code:
                out.append(
                    Problem(
                        f"resources[{resource.code}].related",
                        "related.resolve",
                        f"related resource {related!r} is not in the catalog",
                    )
                )
    return out


def _authority_problems(resources: list[Resource]) -> list[Problem]:
    """一数一源: per key type, an element has one authoritative source; a second names both."""
    out: list[Problem] = []
    first: dict[tuple[str, str], Resource] = {}
    for resource in resources:
        for kind in resource.key_types():
            for element in resource.authoritative:
                owner = first.setdefault((kind, element), resource)
                if owner is not resource:
                    out.append(
                        Problem(
                            f"resources[{resource.code}].authoritative",
                            "authoritative.unique",
                            f"{element!r} (by {kind}) has two authoritative sources: "
                            f"{owner.code} ({owner.connector}.{owner.service}) and "
                            f"{resource.code} ({resource.connector}.{resource.service})",
                        )
                    )
    return out


def refuse_drafts(resources: Iterable[Resource]) -> None:
    """Refuse to register drafted metadata: a draft is a generator's guess (a placeholder resource
    code, a sharing type nobody decided), and the platform would publish it as the department's
    word. Raises :class:`CatalogValidationError` naming every drafted field of every resource."""
    problems = [
        Problem(
            f"resources[{resource.code}].{path}",
            "drafts.undecided",
            f"{value!r} is a draft; a person must decide it and remove {path!r} from drafts= "
            f"of {resource.connector}.{resource.service}",
        )
        for resource in resources
        for path, value in drafted_values(resource)
    ]
    if problems:
        raise CatalogValidationError(problems)
