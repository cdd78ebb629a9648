"""Client and mock against ``docs/platform-api.yaml``: a test fails when either drifts from it.

Every request the client makes is checked against the document (path, method, required headers and
their schemas, request body schema), and every response the mock gives is validated against the
schema the document declares for that operation and status.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from govconnect import ExchangeClient, PlatformRejectedError, RetryPolicy
from govconnect.exchange import platform as P
from govconnect.testing import DEFAULT_NODE, MockPlatform
from govconnect.testing._mock_app import PlatformState, create_app
from govconnect.testing._mock_inspect import INSPECT_PREFIX

SPEC_PATH = Path(__file__).resolve().parents[1] / "docs" / "platform-api.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
SPEC_URI = "urn:govconnect:platform-api"
REGISTRY = Registry().with_resource(SPEC_URI, Resource(contents=SPEC, specification=DRAFT202012))
METHODS = {"get", "put", "post", "delete", "patch"}


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _validator(*parts: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{SPEC_URI}#/{_pointer(*parts)}"}, registry=REGISTRY)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


TEMPLATES = [(_template_regex(t), t) for t in SPEC["paths"]]


def _match(raw_path: str) -> tuple[str, re.Match[str]] | None:
    for regex, template in TEMPLATES:
        match = regex.match(raw_path)
        if match:
            return template, match
    return None


@dataclass
class ContractChecker:
    """Collects every way a request/response pair breaks the document."""

    violations: list[str] = field(default_factory=list)
    checked: set[tuple[str, str, int]] = field(default_factory=set)

    def check(self, request: httpx.Request, response: httpx.Response | None) -> None:
        raw_path = request.url.raw_path.decode().split("?", 1)[0]
        method = request.method.lower()
        found = _match(raw_path)
        if found is None:
            self.violations.append(f"{request.method} {raw_path}: path not in the document")
            return
        template, match = found
        item = SPEC["paths"][template]
        if method not in item:
            self.violations.append(f"{request.method} {template}: method not in the document")
            return
        op = item[method]
        where = f"{request.method} {template}"
        params = [_resolve(p) for p in [*item.get("parameters", []), *op.get("parameters", [])]]
        for param in params:
            if param["in"] == "header":
                value = request.headers.get(param["name"])
            elif param["in"] == "path":
                value = unquote(match.group(param["name"]))
            elif param["in"] == "query":
                value = request.url.params.get(param["name"])
                if value is not None and param["schema"].get("type") == "integer":
                    value = int(value)
            else:
                continue
            if value is None:
                if param.get("required"):
                    self.violations.append(
                        f"{where}: missing required {param['in']} {param['name']}"
                    )
                continue
            for error in Draft202012Validator(param["schema"]).iter_errors(value):
                self.violations.append(f"{where}: {param['name']}={value!r}: {error.message}")
        auth = request.headers.get(P.HEADER_AUTHORIZATION, "")
        if SPEC.get("security") and not auth.startswith("Bearer "):
            self.violations.append(f"{where}: no bearer token")
        if "requestBody" in op:
            try:
                body = orjson.loads(request.content) if request.content else None
            except orjson.JSONDecodeError:
                self.violations.append(f"{where}: request body is not JSON")
                body = None
            validator = _validator(
                "paths", template, method, "requestBody", "content", "application/json", "schema"
            )
            for error in validator.iter_errors(body):
                self.violations.append(f"{where}: request body: {error.message}")
        elif request.content:
            self.violations.append(f"{where}: sends a body the document does not declare")
        if response is not None:
            self._check_response(where, template, method, op, response)

    def _check_response(
        self, where: str, template: str, method: str, op: dict[str, Any], response: httpx.Response
    ) -> None:
        status = str(response.status_code)
        self.checked.add((method, template, response.status_code))
        if status not in op["responses"]:
            self.violations.append(f"{where}: status {status} not in the document")
            return
        declared = _resolve(op["responses"][status])
        for name, header in declared.get("headers", {}).items():
            header = _resolve(header)
            value = response.headers.get(name)
            if value is None:
                if header.get("required"):
                    self.violations.append(f"{where} -> {status}: missing header {name}")
                continue
            for error in Draft202012Validator(header["schema"]).iter_errors(value):
                self.violations.append(f"{where} -> {status}: {name}: {error.message}")
        schema = declared.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            return
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            self.violations.append(f"{where} -> {status}: body is not JSON")
            return
        validator = Draft202012Validator(schema, registry=REGISTRY)
        if "$ref" in schema:
            validator = Draft202012Validator({"$ref": SPEC_URI + schema["$ref"]}, registry=REGISTRY)
        for error in validator.iter_errors(body):
            self.violations.append(f"{where} -> {status}: {error.message}")


class CheckingTransport(httpx.BaseTransport):
    """A real transport that hands every exchange to the checker on its way through."""

    def __init__(self, checker: ContractChecker) -> None:
        self.inner = httpx.HTTPTransport()
        self.checker = checker

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            self.checker.check(request, None)
            raise
        response.read()
        self.checker.check(request, response)
        return response

    def close(self) -> None:
        self.inner.close()


def test_document_is_valid_openapi_31() -> None:
    validate_spec(SPEC)
    assert SPEC["openapi"].startswith("3.1")


def test_shared_constants_match_the_document() -> None:
    paths = set(SPEC["paths"])
    assert {
        P.PATH_RESOURCES,
        P.PATH_RESOURCE,
        P.PATH_RECORDS,
        P.PATH_CASES,
        P.PATH_CASE_ACK,
        P.PATH_CASE_STATUS,
        P.PATH_CORRECTIONS,
    } == paths
    params = SPEC["components"]["parameters"]
    headers = {p["name"] for p in params.values() if p["in"] == "header"}
    assert headers == {
        P.HEADER_NODE,
        P.HEADER_MESSAGE_ID,
        P.HEADER_USER_ID,
        P.HEADER_CASE_ID,
        P.HEADER_IDEMPOTENCY_KEY,
    }
    assert P.HEADER_RETRY_AFTER in SPEC["components"]["responses"]["Throttled"]["headers"]
    schemas = SPEC["components"]["schemas"]
    assert tuple(schemas["StatusChange"]["properties"]["status"]["enum"]) == P.CASE_STATUSES
    assert tuple(schemas["Record"]["properties"]["op"]["enum"]) == P.RECORD_OPS
    assert tuple(schemas["Error"]["properties"]["error"]["enum"]) == P.ERROR_CODES
    assert schemas["RecordBatch"]["properties"]["records"]["maxItems"] == P.MAX_BATCH_RECORDS
    assert schemas["Resource"]["properties"]["code"]["pattern"] == P.RESOURCE_CODE_PATTERN.pattern
    assert params["Node"]["schema"]["pattern"] == P.NODE_PATTERN.pattern


def test_mock_serves_exactly_the_documented_operations() -> None:
    app = create_app(PlatformState(token="t"))
    served = {
        (re.sub(r":\w+\}", "}", route.path), method.lower())
        for route in app.routes
        for method in route.methods or ()
        if method != "HEAD" and not route.path.startswith(INSPECT_PREFIX)  # the kit's, not the API
    }
    documented = {(path, m) for path, item in SPEC["paths"].items() for m in item if m in METHODS}
    assert served == documented


def test_checker_catches_drift() -> None:
    """The checker itself must fail a request that leaves the document."""
    checker = ContractChecker()
    good = {P.HEADER_AUTHORIZATION: "Bearer x", P.HEADER_NODE: "1/a", P.HEADER_MESSAGE_ID: "m"}
    checker.check(httpx.Request("GET", "http://h/v1/intake/cases", headers=good), None)
    assert checker.violations == [f"GET {P.PATH_CASES}: missing required header {P.HEADER_USER_ID}"]
    checker = ContractChecker()
    checker.check(httpx.Request("GET", "http://h/v1/cases", headers=good), None)
    checker.check(httpx.Request("DELETE", "http://h/v1/intake/cases", headers=good), None)
    assert len(checker.violations) == 2
    checker = ContractChecker()
    headers = {**good, P.HEADER_USER_ID: "u", P.HEADER_IDEMPOTENCY_KEY: "k"}
    body = orjson.dumps({"resource_code": "1/2", "records": [{"op": "delete"}]})
    checker.check(
        httpx.Request("POST", "http://h/v1/exchange/records", headers=headers, content=body), None
    )
    assert any("request body" in v for v in checker.violations)
    response = httpx.Response(200, json={"cases": [{"case_id": "x"}]})
    checker = ContractChecker()
    checker.check(
        httpx.Request("GET", "http://h/v1/intake/cases", headers={**good, P.HEADER_USER_ID: "u"}),
        response,
    )
    assert any("matter_code" in v for v in checker.violations)


@pytest.fixture
def checked() -> tuple[ContractChecker, MockPlatform, ExchangeClient]:
    checker = ContractChecker()
    with MockPlatform(seed=1) as platform:
        client = ExchangeClient(
            platform.url,
            token=platform.token,
            node=DEFAULT_NODE,
            user_id="officer-7",
            transport=CheckingTransport(checker),
            retry=RetryPolicy(max_attempts=1),
        )
        with client:
            yield checker, platform, client


def test_client_and_mock_follow_the_document(checked: Any) -> None:
    checker, platform, client = checked
    code = "111112001/2001"
    resource = {"code": code, "version": 1, "name": "户籍人口基本信息"}
    assert client.put_resource(resource)["status"] == "created"
    assert client.put_resource(resource)["status"] == "unchanged"
    with pytest.raises(PlatformRejectedError) as conflict:
        client.put_resource({**resource, "name": "changed"})
    assert conflict.value.status == 409
    assert client.list_resources() == [resource]
    assert client.get_resource(code) == resource
    assert client.get_resource(code, version=1) == resource
    assert client.get_resource("999/1") is None
    client.sync_catalog([resource, {"code": "111112001/2002", "version": 1}])
    records = [{"id": 1, "name": "a"}, {"id": 1, "op": "delete"}]
    assert client.publish(code, records, idempotency_key="k1", case_id="C-1").duplicate is False
    assert client.publish(code, records, idempotency_key="k1").duplicate is True
    with pytest.raises(PlatformRejectedError) as reused:
        client.publish(code, [{"id": 2}], idempotency_key="k1")
    assert reused.value.status == 422
    with pytest.raises(PlatformRejectedError):
        client.publish("555/5", [{"id": 2}], idempotency_key="k2")
    case = platform.enqueue_case(matter_code="11000000000000000001", applicant="张三")
    assert client.pull_cases(limit=10) == [case]
    client.ack_case(case["case_id"])
    with pytest.raises(PlatformRejectedError) as unknown:
        client.ack_case("NO-SUCH-CASE")
    assert unknown.value.status == 404
    client.post_status(case["case_id"], "accepted", idempotency_key="s1")
    client.post_status(case["case_id"], "accepted", idempotency_key="s1")
    client.post_status(case["case_id"], "returned", reasons=["材料不全"], result={"note": "x"})
    with pytest.raises(PlatformRejectedError) as terminal:
        client.post_status(case["case_id"], "completed")
    assert terminal.value.status == 409
    platform.set_faults(error_rate=1.0)
    with pytest.raises(Exception, match="500"):
        client.list_resources()
    platform.set_faults("none", throttle_rate=1.0, retry_after=0.5)
    with pytest.raises(Exception, match="429"):
        client.pull_cases()
    platform.set_faults("none")
    platform.outage(30)
    with pytest.raises(Exception, match="503"):
        client.get_resource(code)
    platform.end_outage()
    assert checker.violations == []
    assert {status for *_, status in checker.checked} >= {200, 201, 404, 409, 422, 429, 500, 503}


def test_hostile_case_ids_follow_the_document(checked: Any) -> None:
    """Any text is a case id: percent-encoded, it passes the document's path and header schemas,
    and the mock routes it to the right case."""
    checker, platform, client = checked
    case_schema = SPEC["components"]["schemas"]["Case"]["properties"]["case_id"]
    assert case_schema["maxLength"] == P.MAX_CASE_ID_LENGTH
    code = "111112001/2001"
    client.put_resource({"code": code, "version": 1})
    ids = ["办件/1", ".", "..", "a b\tc\nd", "%41", "😀" * 200]
    for case_id in ids:
        platform.enqueue_case(case_id=case_id, matter_code="1")
    assert [c["case_id"] for c in client.pull_cases(limit=10)] == ids
    for i, case_id in enumerate(ids):
        client.ack_case(case_id)
        client.post_status(case_id, "accepted", idempotency_key=f"s-{i}")
        client.publish(code, [{"id": i}], idempotency_key=f"p-{i}", case_id=case_id)
    assert platform.acknowledged_cases == set(ids)
    assert all(platform.case_statuses[i][0]["status"] == "accepted" for i in ids)
    assert checker.violations == []


def test_mock_error_bodies_follow_the_document(checked: Any) -> None:
    """Requests the client would never send (bad token, missing headers, broken bodies)."""
    checker, platform, _ = checked
    raw = httpx.Client(base_url=platform.url, transport=CheckingTransport(checker))
    base = {
        P.HEADER_AUTHORIZATION: f"Bearer {platform.token}",
        P.HEADER_NODE: DEFAULT_NODE,
        P.HEADER_MESSAGE_ID: "m-1",
        P.HEADER_USER_ID: "u-1",
    }
    with raw:
        assert (
            raw.get(P.PATH_CASES, headers={**base, P.HEADER_AUTHORIZATION: "Bearer no"}).status_code
            == 401
        )
        bare = {P.HEADER_AUTHORIZATION: base[P.HEADER_AUTHORIZATION]}
        assert raw.get(P.PATH_CASES, headers=bare).status_code == 400
        assert raw.get(P.PATH_CASES, params={"limit": 0}, headers=base).status_code == 400
        assert (
            raw.post(
                P.PATH_RECORDS, headers=base, json={"resource_code": "1/2", "records": [{}]}
            ).status_code
            == 400
        )
        keyed = {**base, P.HEADER_IDEMPOTENCY_KEY: "k"}
        assert raw.post(P.PATH_RECORDS, headers=keyed, content=b"{").status_code == 400
        assert raw.post(P.PATH_RECORDS, headers=keyed, json=[1]).status_code == 422
        bad = {"resource_code": "1/2", "records": [{"op": "merge"}, 3, {"op": "delete"}]}
        response = raw.post(P.PATH_RECORDS, headers=keyed, json=bad)
        assert response.status_code == 422
        fields = [p["field"] for p in response.json()["problems"]]
        assert fields == ["resource_code", "records[0].op", "records[1]", "records[2].id"]
        put = raw.put(P.resource_path("1/2"), headers=base, json={"code": "1/3", "version": 0})
        assert put.status_code == 422
        assert {p["field"] for p in put.json()["problems"]} == {"code", "version"}
        assert raw.put(P.resource_path("1/2"), headers=base, json=[]).status_code == 422
        case = platform.enqueue_case()
        status = raw.post(
            P.case_status_path(case["case_id"]), headers=base, json={"status": "returned", "x": 1}
        )
        assert status.status_code == 422
        assert {p["field"] for p in status.json()["problems"]} == {"reasons", "x"}
        assert (
            raw.post(P.case_status_path(case["case_id"]), headers=base, json=[]).status_code == 422
        )
        other_node = {
            **base,
            P.HEADER_NODE: "1/other",
            P.HEADER_AUTHORIZATION: f"Bearer {platform.token_for('1/other')}",
        }
        other = raw.post(
            P.case_status_path(case["case_id"]), headers=other_node, json={"status": "accepted"}
        )
        assert other.status_code == 404
        borrowed = raw.post(  # this node's token, another node's name: not authenticated
            P.case_status_path(case["case_id"]),
            headers={**base, P.HEADER_NODE: "1/other"},
            json={"status": "accepted"},
        )
        assert borrowed.status_code == 401
    # Bodies the document refuses are checked too; only the responses must be clean here.
    response_violations = [v for v in checker.violations if "->" in v]
    assert response_violations == []
