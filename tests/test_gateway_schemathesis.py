"""A bounded schemathesis run against the gateway's own OpenAPI document.

Every documented operation is called with generated parameters (valid and invalid), as a fully
granted consumer; the gateway must never answer 5xx and every answer must match its documented
status code, content type, headers and schema. Bounded (``max_examples``) to keep the suite fast.
"""

from __future__ import annotations

import hypothesis.strategies as st
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from govconnect.gateway.app import Gateway
from govconnect.gateway.discovery import DISCOVERY_SERVICE
from govconnect.gateway.policy import load_gateway_config

from .gateway_support import CITIZEN_ID, PURPOSE, config_data, registry

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Mostly valid IDs so the 200 answers (masked records) are exercised, not only 422s.
schemathesis.openapi.format(
    "citizen-id",
    st.sampled_from([CITIZEN_ID, "110105194806110593", "11010519491231002x", "110105194912310021"]),
)

_gateway = Gateway(registry(), load_gateway_config(config_data()), audit=":memory:")
# ``broken`` and ``dirty`` fail on purpose (their 502s are tested in test_gateway_http); every
# other operation runs.
schema = schemathesis.openapi.from_asgi("/openapi.json", _gateway.app).exclude(
    path_regex=".*/(broken|dirty)/v1$"
)


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_gateway_conforms_to_its_openapi(case: schemathesis.Case) -> None:
    # Generated purposes are random text; replace half of them by the granted one so the
    # conditional service answers 200 as well as 403.
    if case.query and isinstance(case.query.get("purpose"), str) and len(case.query["purpose"]) % 2:
        case.query["purpose"] = PURPOSE
    case.call_and_validate(headers={"Authorization": "Bearer tok-core-m"}, checks=CHECKS)


def test_the_run_reached_real_answers() -> None:
    """The audit log of the run above holds successful calls, not only refusals."""
    ok = {
        r.service.split("/")[2]
        for r in _gateway.audit.records()
        if r.outcome == "ok" and r.service != DISCOVERY_SERVICE
    }
    assert {"open_case", "conditional_case", "many_cases"} <= ok
