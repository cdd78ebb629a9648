"""A connector with a field at every classification level, and the consumers that exercise it.

Used by the gateway, policy and audit tests. Every level from public to core appears, personal and
non-personal fields, a citizen ID, a credit code, a name, a phone number and a date, so the
matrix tests can say exactly which field comes back how.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from govconnect import (
    CitizenId,
    Connector,
    CreditCode,
    Department,
    LegacySystem,
    Level,
    Record,
    field,
    hookimpl,
    load_registry,
    query,
)
from govconnect.gateway.app import Gateway
from govconnect.gateway.policy import GatewayConfig, hash_token, load_gateway_config

CITIZEN_ID = "11010519491231002X"
CREDIT_CODE = "91350100M000100Y43"

# field -> (level, personal): the declaration below, restated so tests do not read it back.
FIELDS: dict[str, tuple[Level, bool]] = {
    "case_no": (Level.PUBLIC, False),
    "office": (Level.INTERNAL, False),
    "employer": (Level.INTERNAL, True),
    "citizen_id": (Level.SENSITIVE, True),
    "name": (Level.SENSITIVE, True),
    "phone": (Level.SENSITIVE, True),
    "born": (Level.SENSITIVE, True),
    "income": (Level.IMPORTANT, True),
    "verdict": (Level.CORE, False),
}
MASKED = {
    "employer": "9135**********0Y43",
    "citizen_id": "110105********002X",
    "name": "欧**",
    "phone": "138****5678",
    "born": "1949-**-**",
    "income": "****",
}
PLAIN = {
    "case_no": "BJ2026-0001",
    "office": "救助科",
    "employer": CREDIT_CODE,
    "citizen_id": CITIZEN_ID,
    "name": "欧阳明",
    "phone": "13812345678",
    "born": "1949-12-31",
    "income": 3200,
    "verdict": "准予",
}


class Case(Record):
    case_no: str = field("办件编号", level=Level.PUBLIC, max_length=20)
    office: str = field("承办科室", level=Level.INTERNAL, max_length=20)
    employer: CreditCode = field("工作单位代码", level=Level.INTERNAL, personal=True)
    citizen_id: CitizenId = field("公民身份号码", level=Level.SENSITIVE, personal=True)
    name: str = field("姓名", level=Level.SENSITIVE, personal=True, max_length=50)
    phone: str = field("联系电话", level=Level.SENSITIVE, personal=True, max_length=20)
    born: date = field("出生日期", level=Level.SENSITIVE, personal=True)
    income: int = field("月收入", level=Level.IMPORTANT, personal=True)
    verdict: str = field("审批结论", level=Level.CORE, max_length=20)


class CaseQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    citizen_id: CitizenId = Field(description="公民身份号码")


class ManyQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=0, le=10_000, description="how many records to produce")


def _case(i: int = 0) -> Case:
    return Case.model_validate({**PLAIN, "case_no": f"BJ2026-{i + 1:04d}"})


class Assistance(Connector):
    name = "assistance"
    department = Department(code="11010500009", name="测试民政局")
    system = LegacySystem(code="JZXT", name="救助系统")

    @query(
        code="111112001/0201",
        name="救助办件查询",
        abstract="按身份号码查询救助办件",
        sharing="unconditional",
        update_cycle="real_time",
        published="2026-01-01",
    )
    def open_case(self, params: CaseQuery) -> Iterator[Case]:
        if params.citizen_id == CITIZEN_ID:
            yield _case()

    @query(
        code="111112001/0202",
        name="救助办件有条件查询",
        abstract="按身份号码查询救助办件（有条件）",
        sharing="conditional",
        conditions="凭办件编号，仅用于救助审核",
        update_cycle="real_time",
        published="2026-01-01",
    )
    def conditional_case(self, params: CaseQuery) -> Iterator[Case]:
        if params.citizen_id == CITIZEN_ID:
            yield _case()

    @query(
        code="111112001/0203",
        name="救助办件内部查询",
        abstract="不予共享的内部查询",
        sharing="not_shared",
        legal_basis="《社会救助暂行办法》第六十二条",
        update_cycle="real_time",
        published="2026-01-01",
    )
    def secret_case(self, params: CaseQuery) -> Iterator[Case]:
        yield _case()

    @query(
        code="111112001/0204",
        name="救助办件批量查询",
        abstract="产生指定数量的办件，用于分页",
        sharing="unconditional",
        update_cycle="real_time",
        published="2026-01-01",
    )
    def many_cases(self, params: ManyQuery) -> Iterator[Case]:
        for i in range(params.count):
            yield _case(i)

    @query(
        code="111112001/0205",
        name="故障查询",
        abstract="遗留系统出错时网关的表现",
        sharing="unconditional",
        update_cycle="real_time",
        published="2026-01-01",
    )
    def broken(self, params: CaseQuery) -> Iterator[Case]:
        raise RuntimeError(f"legacy database down while looking up {params.citizen_id}")
        yield  # pragma: no cover - makes this a generator

    @query(
        code="111112001/0206",
        name="脏数据查询",
        abstract="遗留表中身份号码校验位错误的行",
        sharing="unconditional",
        update_cycle="real_time",
        published="2026-01-01",
    )
    def dirty(self, params: CaseQuery) -> Iterator[Case]:
        # a legacy row whose stored ID fails its check digit: the legacy system's fault, not the
        # caller's, even though the error is an IdentityError (an InvalidInputError)
        CitizenId.parse("110105194912310021")
        yield _case()


@hookimpl
def register_connectors() -> list[type[Connector]]:
    return [Assistance]


def token(level: Level, personal: bool) -> str:
    return f"tok-{level.value}-{'p' if personal else 'm'}"


def consumer_id(level: Level, personal: bool) -> str:
    return f"C{level.rank}{'P' if personal else 'M'}"


PURPOSE = "救助审核"


def config_data() -> dict[str, Any]:
    """One consumer per level x personal grant, all services granted, plus a narrow one."""
    consumers: list[dict[str, Any]] = [
        {
            "department": consumer_id(level, personal),
            "name": f"{level.label}级{'含个人信息' if personal else ''}消费方",
            "token_hashes": [hash_token(token(level, personal))],
            "services": ["*"],
            "max_level": level.value,
            "personal_unmasked": personal,
            "purposes": [PURPOSE],
        }
        for level in Level
        for personal in (False, True)
    ]
    consumers.append(
        {
            "department": "NARROW",
            "name": "只能查无条件办件的消费方",
            "token_hashes": [hash_token("tok-narrow")],
            "cert_subjects": ["CN=narrow.example.gov.cn"],
            "services": ["assistance.open_case"],
            "max_level": "public",
            "purposes": {"111112001/0202": ["别的用途"]},
        }
    )
    return {
        "gateway": {"default_page_size": 10, "max_page_size": 50, "client_cert_header": "X-Cert"},
        "consumers": consumers,
    }


def registry() -> Any:
    import sys

    return load_registry(plugins=[sys.modules[__name__]], entry_points=False, config={})


def gateway_config(**gateway: Any) -> GatewayConfig:
    data = config_data()
    data["gateway"].update(gateway)
    return load_gateway_config(data)


def make_gateway(tmp_path: Path, **gateway: Any) -> Gateway:
    return Gateway(registry(), gateway_config(**gateway), audit=tmp_path / "audit.sqlite")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway over a fresh audit log, closed after the test (import it as a fixture)."""
    gw = make_gateway(tmp_path)
    yield gw
    gw.close()


def path_of(service: str) -> str:
    return f"/services/11010500009/JZXT/{service}/v1"


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Run ``app`` on uvicorn on a free loopback port in a thread; yield its base URL."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def asgi_get(
    app: Any,
    path: str,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    method: str = "GET",
    raw_path: bytes | None = None,
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request straight into the ASGI app, header bytes exactly as given (an HTTP client
    refuses some bytes a server may still pass on; Starlette's test client re-encodes them)."""
    import asyncio

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode("utf-8", "surrogatepass"),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"gateway.test"), *(headers or [])],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start.get("headers", [])), body
