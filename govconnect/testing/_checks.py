"""The standard conformance checks, one function each, registered in order with :func:`check`.

Each takes the shared :class:`ConformanceSession` and one service and returns an :class:`Outcome`.
A check that needs a later piece of the SDK (intake mappings, the exchange round trip with the mock
platform) is added here the same way, and every plugin's tests and ``govconnect check`` run it.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from .._connector import Service
from .._exceptions import GovConnectError, Problem
from .._validation import problems_from_pydantic
from ..catalog.classification import Level
from ..catalog.fields import X_PERSONAL, information_items
from ..catalog.identity import CitizenId, CreditCode
from ..catalog.model import Catalog, Resource, resource_problems
from ..gateway.masking import mask_value
from ._conformance import ConformanceSession, Outcome, check, failed, is_dataset, passed

__all__: list[str] = []


@check("catalog_entry", "the catalog entry is valid and survives the catalog document", order=10)
def _catalog_entry(session: ConformanceSession, svc: Service) -> Outcome:
    problems = resource_problems(svc.resource)
    siblings = [s.resource for s in svc.connector.services().values()]
    problems += [
        p
        for p in Catalog(resources=siblings).problems()
        if p.rule == "resource_code.unique" and svc.code in p.field
    ]
    if problems:
        return failed(*problems)
    document = svc.resource.model_dump_json(exclude={"category"})
    try:
        again = Resource.model_validate_json(document)
    except ValidationError as exc:
        return failed(*problems_from_pydantic(exc, f"resources[{svc.code}]"))
    if again != svc.resource:
        return failed(
            Problem(svc.code, "catalog.round_trip", "the entry changes when read back as JSON")
        )
    return passed(f"{svc.code} {svc.resource.name}")


@check(
    "fields_classified",
    "every record field is typed, classified and flagged personal or not",
    order=20,
)
def _fields_classified(session: ConformanceSession, svc: Service) -> Outcome:
    items, problems = information_items(svc.record_model, svc.qualified_name)
    problems += [
        Problem(
            f"{svc.qualified_name}.{item.name}",
            "item.personal_public",
            "personal information cannot be classified public; use internal or higher",
        )
        for item in items
        if item.personal and item.level == Level.PUBLIC
    ]
    if problems:
        return failed(*problems)
    personal = sum(item.personal for item in items)
    return passed(f"{len(items)} items, {personal} personal")


@check(
    "sample_query",
    "sample params validate and return records matching the record model",
    order=30,
)
def _sample_query(session: ConformanceSession, svc: Service) -> Outcome:
    records = session.records(svc)
    if isinstance(records, Outcome):
        return records
    if not records:
        return failed(
            Problem(
                f"{svc.qualified_name}.params",
                "conformance.no_records",
                "the sample parameters returned no records from the sample legacy system",
            )
        )
    problems: list[Problem] = []
    for i, record in enumerate(records):
        if not isinstance(record, svc.record_model):
            problems.append(
                Problem(
                    f"{svc.qualified_name}[{i}]",
                    "conformance.record_type",
                    f"record is a {type(record).__name__}, not {svc.record_model.__name__}",
                )
            )
            continue
        again = svc.record_model.model_validate_json(record.model_dump_json())
        if again != record:
            problems.append(
                Problem(
                    f"{svc.qualified_name}[{i}]",
                    "conformance.record_json",
                    "the record changes when sent as JSON and read back",
                )
            )
    if problems:
        shown = " (the first 20 shown)" if len(problems) > 20 else ""
        return failed(*problems[:20], detail=f"{len(problems)} problem(s){shown}")
    return passed(f"{len(records)} record(s)")


@check(
    "dataset_streams",
    "the dataset streams records (an iterator, not a list built in memory)",
    applies=is_dataset,
    order=40,
)
def _dataset_streams(session: ConformanceSession, svc: Service) -> Outcome:
    call = session.service_call(svc)
    if isinstance(call, Outcome):
        return call
    instance, params = call
    produced = svc.function(instance, params) if svc.takes_params else svc.function(instance)
    try:
        if not isinstance(produced, Iterator):
            return failed(
                Problem(
                    svc.qualified_name,
                    "dataset.streams",
                    f"returned a {type(produced).__name__}; yield records so a large table "
                    "never sits in memory",
                )
            )
        next(produced, None)
    finally:
        close = getattr(produced, "close", None)
        if callable(close):
            close()
    return passed("yields records lazily")


@check(
    "personal_masked",
    "personal-information fields are masked by the gateway's masking rules",
    order=50,
)
def _personal_masked(session: ConformanceSession, svc: Service) -> Outcome:
    personal = [
        name
        for name, info in svc.record_model.model_fields.items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get(X_PERSONAL)
    ]
    if not personal:
        return passed("no personal information")
    records = session.records(svc)
    if isinstance(records, Outcome):
        return records
    problems: list[Problem] = []
    for name in personal:
        path = f"{svc.qualified_name}.{name}"
        values = [getattr(r, name, None) for r in records]
        values = [v for v in values if v is not None and str(v) != ""]
        leaked = [v for v in values if str(mask_value(svc, name, v)) == str(v)]
        if leaked:
            problems.append(
                Problem(path, "masking.reveals", f"masking leaves {str(leaked[0])!r} readable")
            )
        plain = [v for v in values if not isinstance(v, CitizenId | CreditCode)]
        if plain and len(plain) == len(values) and all(_looks_like_citizen_id(v) for v in plain):
            problems.append(
                Problem(
                    path,
                    "masking.identity_type",
                    "holds citizen ID numbers as plain text; declare it as govconnect.CitizenId "
                    "so it is validated and masked as one",
                )
            )
    if problems:
        return failed(*problems)
    return passed(f"{len(personal)} personal field(s) masked")


def _looks_like_citizen_id(value: object) -> bool:
    try:
        CitizenId.parse(value)
    except (GovConnectError, ValueError):
        return False
    return True
