"""Catalog exports: JSON (the document), OpenAPI 3.1, CSV for catalog clerks, DCAT JSON-LD.

Each format has one reader in mind. JSON is the catalog document itself (round-trips through
:meth:`Catalog.from_document`); OpenAPI describes the query services for developers of consuming
systems; CSV is the one-row-per-information-item sheet clerks keep in spreadsheets; DCAT lets
open-data portals (CKAN) harvest the public part.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from pydantic.json_schema import models_json_schema

from ._connector import Service
from .catalog.model import Catalog, Resource, SharingMethod, SharingType, UpdateCycle

__all__ = [
    "EXPORT_FORMATS",
    "GATEWAY_PARAMETERS",
    "export_catalog",
    "public_resources",
    "to_csv",
    "to_dcat",
    "to_json",
    "to_openapi",
]

EXPORT_FORMATS = ("json", "openapi", "csv", "dcat")

SHARING_LABELS = {
    SharingType.UNCONDITIONAL: "无条件共享",
    SharingType.CONDITIONAL: "有条件共享",
    SharingType.NOT_SHARED: "不予共享",
}
METHOD_LABELS = {
    SharingMethod.INTERFACE: "共享平台/接口",
    SharingMethod.TABLE: "共享平台/库表",
    SharingMethod.FILE: "共享平台/文件",
    SharingMethod.OTHER: "其他",
}
CYCLE_LABELS = {
    UpdateCycle.REAL_TIME: "实时",
    UpdateCycle.DAILY: "每日",
    UpdateCycle.WEEKLY: "每周",
    UpdateCycle.MONTHLY: "每月",
    UpdateCycle.QUARTERLY: "每季度",
    UpdateCycle.HALF_YEARLY: "每半年",
    UpdateCycle.YEARLY: "每年",
}


def to_json(catalog: Catalog) -> str:
    """The catalog document, resources ordered by code, keys in model order (stable for diffs)."""
    doc = catalog.model_copy(update={"resources": sorted(catalog.resources, key=lambda r: r.code)})
    return json.dumps(doc.model_dump(mode="json"), ensure_ascii=False, indent=2) + "\n"


CSV_COLUMNS = (
    "资源代码",
    "资源名称",
    "资源分类",
    "提供方",
    "提供方代码",
    "共享类型",
    "共享条件",
    "共享方式",
    "开放属性",
    "更新周期",
    "发布日期",
    "信息项名称",
    "字段名",
    "数据类型",
    "数据长度",
    "分级",
    "个人信息",
    "描述",
    "数据元",
    "权威来源",
)
"""The last two columns: the data element an item carries, and whether this resource is the
authoritative source (一数一源) of that element ("是"), a copy ("否"), or names no element ("")."""


def _authority(resource: Resource, element: str | None) -> str:
    if element is None:
        return ""
    return "是" if element in resource.authoritative else "否"


def to_csv(catalog: Catalog) -> str:
    """One row per information item, in the columns catalog clerks use (UTF-8, header row)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in sorted(catalog.resources, key=lambda r: r.code):
        sharing_note = r.sharing.conditions or r.sharing.legal_basis or ""
        for item in r.items:
            writer.writerow(
                (
                    r.code,
                    r.name,
                    r.category.class_name if r.category else "",
                    r.provider.name,
                    r.provider.code,
                    SHARING_LABELS[r.sharing.type],
                    sharing_note,
                    METHOD_LABELS[r.sharing.method],
                    "向社会开放" if r.open.public else "不向社会开放",
                    CYCLE_LABELS[r.update_cycle],
                    r.published.isoformat(),
                    item.title,
                    item.name,
                    item.data_type.value,
                    item.length or "",
                    item.level.label,
                    "是" if item.personal else "否",
                    item.description or "",
                    item.element or "",
                    _authority(r, item.element),
                )
            )
    return out.getvalue()


def service_path(service: Service) -> str:
    """The URL path of a query service, shared by the OpenAPI export and the gateway."""
    return f"/services/{service.id}"


GATEWAY_PARAMETERS = ("purpose", "page", "page_size")
"""Query parameters the gateway reserves on every service path (a service may not declare them)."""


def _served_schema(record_schema: dict[str, Any]) -> dict[str, Any]:
    """A record as the gateway serves it: any field may be withheld (so none is required) and a
    personal field may arrive masked (so it may also be a plain string, e.g. ``110105********002X``)."""
    props: dict[str, Any] = {}
    for name, prop in record_schema.get("properties", {}).items():
        if prop.get("x-personal-information"):
            extras = {k: v for k, v in prop.items() if k.startswith("x-") or k == "title"}
            plain = {k: v for k, v in prop.items() if k not in extras and k != "examples"}
            prop = {
                **extras,
                "anyOf": [plain, {"type": "string", "description": "masked"}],
            }
        props[name] = prop
    return {
        "type": "object",
        "title": f"{record_schema.get('title', 'Record')} (as served)",
        "description": "Fields above the consumer's level are withheld; personal information is "
        "masked unless the consumer is granted it unmasked.",
        "properties": props,
        "additionalProperties": False,
    }


def to_openapi(
    services: Sequence[Service], *, title: str | None = None, max_page_size: int = 1000
) -> dict[str, Any]:
    """OpenAPI 3.1: one GET path per query service, params as query parameters, records typed,
    classification carried as ``x-classification`` / ``x-personal-information`` on each field.

    The gateway's own parameters (``purpose``, ``page``, ``page_size``) are declared once per path
    (path-level ``parameters``); each 200 answer refers to a ``<Record>Served`` schema that allows
    withheld and masked fields, and carries the SM3 request hash."""
    queries = [s for s in services if s.kind == "query"]
    models = []
    for svc in queries:
        models.append((svc.params_model, "validation"))
        models.append((svc.record_model, "serialization"))
    _, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Problem"] = {
        "type": "object",
        "required": ["field", "rule", "message"],
        "properties": {n: {"type": "string"} for n in ("field", "rule", "message")},
    }
    schemas["Error"] = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "problems": {"type": "array", "items": {"$ref": "#/components/schemas/Problem"}},
            "request_hash": {"type": "string"},
        },
    }
    for svc in queries:
        name = svc.record_model.__name__
        if name in schemas:
            schemas[f"{name}Served"] = _served_schema(schemas[name])
    gateway_params = [
        {
            "name": "purpose",
            "in": "query",
            "required": False,
            "description": "purpose of the call (共享条件); required by conditionally shared services",
            "schema": {"type": "string", "maxLength": 200},
        },
        {
            "name": "page_size",
            "in": "query",
            "required": False,
            "description": "records per page",
            "schema": {"type": "integer", "minimum": 1, "maximum": max_page_size},
        },
        {
            "name": "page",
            "in": "query",
            "required": False,
            "description": "the next_page token of the previous answer",
            "schema": {"type": "string", "maxLength": 500},
        },
    ]
    paths: dict[str, Any] = {}
    for svc in queries:
        param_schema = svc.params_model.model_json_schema()
        required = set(param_schema.get("required", []))
        parameters = [
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": {k: v for k, v in prop.items() if k != "title"},
                **({"description": prop["description"]} if "description" in prop else {}),
            }
            for name, prop in param_schema.get("properties", {}).items()
        ]
        record_ref = {"$ref": f"#/components/schemas/{svc.record_model.__name__}Served"}
        error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        paths[service_path(svc)] = {
            "parameters": gateway_params,
            "get": {
                "operationId": f"{svc.connector.name}_{svc.name}",
                "summary": svc.resource.name,
                "description": svc.resource.abstract,
                "tags": [svc.connector.name],
                "parameters": parameters,
                "x-resource-code": svc.code,
                "x-sharing-type": svc.resource.sharing.type.value,
                "x-update-cycle": svc.resource.update_cycle.value,
                "responses": {
                    "200": {
                        "description": "matching records, classified fields as the consumer may see them",
                        "headers": {
                            "X-Request-Hash": {
                                "description": "SM3 of the canonical request this answers",
                                "schema": {"type": "string"},
                            }
                        },
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["service", "records"],
                                    "properties": {
                                        "service": {"type": "string"},
                                        "records": {"type": "array", "items": record_ref},
                                        "withheld_fields": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                        },
                                        "masked_fields": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                        },
                                        "next_page": {"type": ["string", "null"]},
                                        "request_hash": {"type": "string"},
                                    },
                                }
                            }
                        },
                    },
                    "401": {"description": "unknown consumer", "content": error},
                    "403": {"description": "consumer not allowed", "content": error},
                    "404": {"description": "no such service", "content": error},
                    "422": {"description": "invalid parameters", "content": error},
                    "502": {"description": "the legacy system failed", "content": error},
                    "503": {
                        "description": "audit log unavailable: nothing served",
                        "content": error,
                    },
                },
            },
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title or "govconnect catalogued services",
            "version": "1",
            "description": "Query services generated from the resource catalog by govconnect.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


_FREQUENCY = {
    UpdateCycle.REAL_TIME: "continuous",
    UpdateCycle.DAILY: "daily",
    UpdateCycle.WEEKLY: "weekly",
    UpdateCycle.MONTHLY: "monthly",
    UpdateCycle.QUARTERLY: "quarterly",
    UpdateCycle.HALF_YEARLY: "semiannual",
    UpdateCycle.YEARLY: "annual",
}
_ACCESS = {
    SharingType.UNCONDITIONAL: "PUBLIC",
    SharingType.CONDITIONAL: "RESTRICTED",
    SharingType.NOT_SHARED: "NON_PUBLIC",
}


def _dcat_dataset(r: Resource) -> dict[str, Any]:
    return {
        "@id": f"urn:govconnect:resource:{r.code}",
        "@type": "dcat:Dataset",
        "dct:identifier": r.code,
        "dct:title": r.name,
        "dct:description": r.abstract,
        "dct:publisher": {
            "@type": "foaf:Agent",
            "foaf:name": r.provider.name,
            "dct:identifier": r.provider.code,
        },
        "dct:issued": {"@value": r.published.isoformat(), "@type": "xsd:date"},
        "dct:accrualPeriodicity": {"@id": f"http://purl.org/cld/freq/{_FREQUENCY[r.update_cycle]}"},
        "dct:accessRights": {
            "@id": "http://publications.europa.eu/resource/authority/access-right/"
            + _ACCESS[r.sharing.type]
        },
        "dcat:keyword": [r.category.class_name] if r.category else [],
        "dcat:distribution": [
            {
                "@type": "dcat:Distribution",
                "dct:format": r.format.value,
                "dct:title": f"{r.name} ({len(r.items)} information items)",
                "dcat:mediaType": "application/json",
            }
        ],
    }


def public_resources(catalog: Catalog) -> list[Resource]:
    """The resources DCAT exports, by code: open to the public and not withheld (不予共享). One
    rule, so ``catalog export`` can say how many it left out."""
    return [
        r
        for r in sorted(catalog.resources, key=lambda r: r.code)
        if r.open.public and r.sharing.type is not SharingType.NOT_SHARED
    ]


def to_dcat(catalog: Catalog, *, title: str = "govconnect resource catalog") -> dict[str, Any]:
    """DCAT JSON-LD of the public part: resources open to the public and not withheld."""
    public = public_resources(catalog)
    return {
        "@context": {
            "dcat": "http://www.w3.org/ns/dcat#",
            "dct": "http://purl.org/dc/terms/",
            "foaf": "http://xmlns.com/foaf/0.1/",
            "xsd": "http://www.w3.org/2001/XMLSchema#",
        },
        "@type": "dcat:Catalog",
        "dct:title": title,
        "dcat:dataset": [_dcat_dataset(r) for r in public],
    }


def export_catalog(fmt: str, catalog: Catalog, services: Sequence[Service]) -> str:
    """Render the catalog in one of :data:`EXPORT_FORMATS` as text."""
    if fmt == "json":
        return to_json(catalog)
    if fmt == "csv":
        return to_csv(catalog)
    if fmt == "openapi":
        return json.dumps(to_openapi(services), ensure_ascii=False, indent=2) + "\n"
    if fmt == "dcat":
        return json.dumps(to_dcat(catalog), ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
