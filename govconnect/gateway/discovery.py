"""The discovery service: what this gateway serves, and what one consumer may call of it.

X-Road's ``listMethods`` and ``allowedMethods``: ``/services`` lists every served service from
its catalog metadata; ``/services/allowed`` lists only the services the authenticated consumer
may call, with the purposes it may state and the fields it would be returned, masked and
withheld. The handlers live on :class:`~govconnect.gateway.app.Gateway` (they authenticate and
audit like service calls); this module builds what they list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._connector import Service
from .._export import service_path
from .policy import Consumer, Policy

__all__ = ["DISCOVERY_SERVICE"]

DISCOVERY_SERVICE = "(discovery: allowed services)"
"""The service name under which ``/services/allowed`` calls are audited."""


def _describe(svc: Service) -> dict[str, Any]:
    r = svc.resource
    return {
        "id": svc.id,
        "code": r.code,
        "name": r.name,
        "abstract": r.abstract,
        "provider": r.provider.code,
        "path": service_path(svc),
        "sharing": r.sharing.type.value,
        "conditions": r.sharing.conditions,
        "fields": [
            {"name": i.name, "title": i.title, "level": i.level.value, "personal": i.personal}
            for i in r.items
        ],
    }


def _allowed(
    policy: Policy, consumer: Consumer, services: Sequence[Service]
) -> list[dict[str, Any]]:
    """The services ``consumer`` may call, each described with what it would see."""
    allowed = []
    for svc in services:
        if not policy.may_call(consumer, svc):
            continue
        view = policy.view(consumer, svc)
        entry = _describe(svc)
        entry.update(
            purposes=list(policy.allowed_purposes(consumer, svc)),
            returned_fields=list(view.returned),
            masked_fields=list(view.masked),
            withheld_fields=list(view.withheld),
        )
        allowed.append(entry)
    return allowed
