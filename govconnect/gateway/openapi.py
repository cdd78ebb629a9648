"""OpenAPI paths the gateway adds to the catalog's service paths: discovery and operations.

Kept beside the app so that the document at ``/openapi.json`` describes every route the gateway
answers, and the schemathesis run in the tests exercises all of them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["discovery_paths", "document_bounds"]

_FIELD = {
    "type": "object",
    "required": ["name", "title", "level", "personal"],
    "properties": {
        "name": {"type": "string"},
        "title": {"type": "string"},
        "level": {"type": "string"},
        "personal": {"type": "boolean"},
    },
}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_SERVICE = {
    "type": "object",
    "required": ["id", "code", "name", "path", "sharing", "fields"],
    "properties": {
        "id": {"type": "string"},
        "code": {"type": "string"},
        "name": {"type": "string"},
        "abstract": {"type": "string"},
        "provider": {"type": "string"},
        "path": {"type": "string"},
        "sharing": {"type": "string", "enum": ["unconditional", "conditional", "not_shared"]},
        "conditions": {"type": ["string", "null"]},
        "fields": {"type": "array", "items": _FIELD},
        "purposes": _STRINGS,
        "returned_fields": _STRINGS,
        "masked_fields": _STRINGS,
        "withheld_fields": _STRINGS,
    },
}
_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def discovery_paths() -> dict[str, Any]:
    """``/services``, ``/services/allowed``, ``/healthz``, ``/readyz`` and ``/metrics``."""
    listing = {
        "type": "object",
        "required": ["services"],
        "properties": {
            "consumer": {"type": "string"},
            "services": {"type": "array", "items": _SERVICE},
        },
    }
    return {
        "/services": {
            "get": {
                "operationId": "list_services",
                "summary": "Every service this gateway serves (X-Road listMethods)",
                "tags": ["discovery"],
                "security": [],
                "responses": {"200": {"description": "services", "content": _json(listing)}},
            }
        },
        "/services/allowed": {
            "get": {
                "operationId": "list_allowed_services",
                "summary": "The services the calling consumer may call (X-Road allowedMethods)",
                "tags": ["discovery"],
                "responses": {
                    "200": {"description": "services and fields", "content": _json(listing)},
                    "401": {"description": "unknown consumer", "content": _ERROR},
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness: the process answers",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "alive",
                        "content": _json(
                            {"type": "object", "properties": {"status": {"type": "string"}}}
                        ),
                    }
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: the audit log is writable, so calls can be served",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {"description": "ready", "content": _json({"type": "object"})},
                    "503": {"description": "not ready", "content": _json({"type": "object"})},
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus text-format metrics",
                "tags": ["operations"],
                "security": [],
                "responses": {
                    "200": {
                        "description": "metrics",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


# Answers any path may give, decided before routing (docs/gateway.md, "Bounds"): documented on
# every operation so that a client generated from the document expects them.
_BOUND_RESPONSES = {
    "414": "path or query string over its bound (path.too_long, query.too_long)",
    "431": "a header, or all headers, over the bound (header.too_long, headers.too_many)",
    "500": "an error nobody foresaw: audited, answered with the error body",
}


# What a service call's answers also mean once officers' tokens are verified (docs/gateway.md).
_OFFICER_NOTES = {
    "401": "; or the officer token (X-Officer-Token) refused: officer.expired, officer.audience…",
    "403": "; or the officer behind the call does not satisfy the gateway file: "
    "officer.required, officer.department, officer.role",
    "503": "; or the authentication center's keys cannot be fetched "
    "(identity_unavailable, officer.issuer_unavailable)",
}


def document_bounds(doc: dict[str, Any]) -> None:
    """Add the bound refusals and the internal error to every operation of ``doc``, and the
    officer rules to the answers of service calls."""
    for path, item in doc.get("paths", {}).items():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                if path.startswith("/services/") and path != "/services/allowed":
                    for status, note in _OFFICER_NOTES.items():
                        answer = operation["responses"].get(status)
                        if answer is not None and "description" in answer:
                            answer["description"] += note
                for status, description in _BOUND_RESPONSES.items():
                    operation["responses"].setdefault(
                        status, {"description": description, "content": _ERROR}
                    )
