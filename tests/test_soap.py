"""Reading a legacy WebService: a real SOAP fake on loopback, zeep on the client side.

Round trips for a lookup and a paged dataset, nested complex types and arrays mapped to records,
SOAP Faults and HTTP trouble as errors of the one tree, retries, UsernameToken, GB18030 answers.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from govconnect import (
    ConfigurationError,
    InvalidInputError,
    LegacySystemError,
    RetryableError,
    RetryPolicy,
    SoapFaultError,
)
from govconnect.soap import Cursor, SoapClient, SoapSecurity, to_utf8
from govconnect.testing import SoapLegacyFake

from . import soap_support as hj
from .soap_support import ANSWERS, WSDL, Hjxt, Resident

FAST = RetryPolicy(max_attempts=4, deadline=10, initial=0.01, max_wait=0.02, jitter=0)
ZHANG = "11010519491231002X"

Factory = Callable[..., SoapLegacyFake]


def client(fake: SoapLegacyFake, **kwargs: Any) -> SoapClient:
    kwargs.setdefault("retry", FAST)
    return SoapClient(fake.wsdl_url, **kwargs)


def connector(fake: SoapLegacyFake, **settings: Any) -> Hjxt:
    return Hjxt({"endpoint": fake.url, **settings})


def test_a_query_reads_nested_types_and_arrays_into_records(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    with connector(fake) as hjxt:
        (person,) = hjxt.run("resident", {"citizen_id": ZHANG})
    assert isinstance(person, Resident)
    assert person.citizen_id == ZHANG and person.name == "张三"
    assert person.birth_date.isoformat() == "1949-12-31" and person.household_size == 3
    assert person.province == "北京市"
    assert person.phones == ["13800138000", "010-65001234"]
    assert fake.calls[0].body == {"sfzh": ZHANG}


def test_the_wsdl_is_read_over_http_and_the_answer_is_plain_data(
    soap_legacy_factory: Factory,
) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    soap = client(fake)
    assert soap.endpoint == fake.url and soap.operations == [
        "ListPersons",
        "QueryPerson",
        "SubmitApplication",
    ]
    (person,) = soap.call("QueryPerson", sfzh=ZHANG)["person"]
    assert person["zz"] == {"sheng": "北京市", "xxdz": "朝阳区幸福路1号"}
    assert soap.call("QueryPerson", sfzh="110105194912310038") == {"person": []}
    assert list(soap.records("QueryPerson", {"sfzh": "110105194912310038"}, items="person")) == []


def test_a_paged_dataset_follows_every_page_and_streams(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    with connector(fake) as hjxt:
        produced = hjxt.run("residents")
        first = next(produced)
        assert first.name == "张三" and len(fake.calls) == 1  # one page asked for, not all
        rest = list(produced)
    assert len(rest) + 1 == len(hj.PEOPLE) == 26
    pages = [(c.body["pageNo"], c.body["pageSize"]) for c in fake.calls]
    assert pages == [("1", "10"), ("2", "10"), ("3", "10")]


def test_cursor_paging_stops_when_the_token_does_not_advance(soap_legacy_factory: Factory) -> None:
    def listing(request: dict[str, Any]) -> dict[str, Any]:
        page = int(request["pageNo"])
        rows = hj.PEOPLE[(page - 1) * 10 : page * 10]
        return {"total": page + 1 if rows else page, "persons": {"person": rows}}

    fake = soap_legacy_factory(WSDL, {"ListPersons": listing})
    rows = list(
        client(fake).records(
            "ListPersons",
            {"pageNo": 1, "pageSize": 10},
            items="persons.person",
            paging=Cursor(param="pageNo", next="total"),
        )
    )
    assert len(rows) == 26 and len(fake.calls) == 4


def test_a_soap_fault_names_code_string_system_and_operation(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    with pytest.raises(SoapFaultError) as caught:
        client(fake).call("QueryPerson", sfzh="123")
    err = caught.value
    assert (err.code, err.string, err.detail) == ("soap:Client", "公民身份号码格式错误", "sfzh")
    assert err.code_name == "Client" and err.operation == "QueryPerson"
    assert str(err) == "HjxtService QueryPerson: SOAP Fault soap:Client: 公民身份号码格式错误"
    assert len(fake.calls) == 1  # a fault is an answer: never retried


def test_injected_server_fault_is_not_retried(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    fake.inject("fault", code="soap:Server", string="数据库连接失败")
    with pytest.raises(SoapFaultError, match="soap:Server: 数据库连接失败"):
        client(fake).call("QueryPerson", sfzh=ZHANG)


def test_http_500_is_retried_then_succeeds(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    fake.inject("http_500", times=2)
    answer = client(fake).call("QueryPerson", sfzh=ZHANG)
    assert answer["person"][0]["xm"] == "张三" and len(fake.calls) == 3


def test_http_500_past_the_policy_is_a_retryable_error(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    fake.inject("http_500", times=10)
    with pytest.raises(RetryableError, match="QueryPerson: legacy service answered HTTP 500"):
        client(fake).call("QueryPerson", sfzh=ZHANG)
    assert len(fake.calls) == FAST.max_attempts


def test_a_slow_answer_times_out_and_the_retry_gets_through(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    fake.inject("slow", seconds=1.5)
    answer = client(fake, timeout=0.5).call("QueryPerson", sfzh=ZHANG)
    assert answer["person"][0]["xm"] == "张三" and len(fake.calls) == 2


def test_unreachable_service_is_retryable(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    soap = client(fake, endpoint="http://127.0.0.1:9/nothing", retry=FAST.with_(max_attempts=2))
    with pytest.raises(RetryableError, match="unreachable"):
        soap.call("QueryPerson", sfzh=ZHANG)


def test_username_token_digest_accepted_and_refused(
    soap_legacy_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS, username="jkyh", password="s3cret-口令")
    caplog.set_level(logging.DEBUG)
    good = client(fake, security=SoapSecurity("jkyh", "s3cret-口令"))
    assert good.call("QueryPerson", sfzh=ZHANG)["person"][0]["xm"] == "张三"
    assert (
        good.call("QueryPerson", sfzh=ZHANG)["person"][0]["xm"] == "张三"
    )  # a fresh nonce each call
    for security in (
        SoapSecurity("jkyh", "wrong"),
        SoapSecurity(),
        SoapSecurity("jkyh", "s3cret-口令", digest=False),
    ):
        with pytest.raises(SoapFaultError) as caught:
            client(fake, security=security).call("QueryPerson", sfzh=ZHANG)
        assert caught.value.code == "wsse:FailedAuthentication"
    assert fake.refused_tokens == 3 and len(fake.calls) == 2
    assert "s3cret" not in caplog.text and "PasswordDigest" not in caplog.text
    assert "s3cret" not in repr(SoapSecurity("jkyh", "s3cret-口令"))


def test_http_basic(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS, basic=("jkyh", "口令"))
    # the WSDL itself sits behind Basic too
    with pytest.raises(ConfigurationError, match="cannot read the WSDL"):
        client(fake)
    local = SoapClient(WSDL, endpoint=fake.url, retry=FAST)
    with pytest.raises(LegacySystemError, match="HTTP 401") as caught:
        local.call("QueryPerson", sfzh=ZHANG)
    assert caught.value.status == 401
    ok = client(fake, security=SoapSecurity("jkyh", "口令", scheme="basic"))
    assert ok.call("QueryPerson", sfzh=ZHANG)["person"][0]["xm"] == "张三"


def test_client_certificate_reaches_the_session() -> None:
    security = SoapSecurity(cert=("client.pem", "client.key"), verify="ca.pem")
    session = security.session()
    assert session.cert == ("client.pem", "client.key") and session.verify == "ca.pem"


@pytest.mark.parametrize("declare", [True, False])
@pytest.mark.parametrize("encoding", ["gb18030", "gbk"])
def test_gb18030_and_gbk_answers_are_decoded(
    soap_legacy_factory: Factory, encoding: str, declare: bool
) -> None:
    rare = "𠮷" if encoding == "gb18030" else "喆"  # 𠮷 exists in GB18030 only (4 bytes)
    people = [{**hj.PEOPLE[0], "xm": f"{rare}三"}]
    fake = soap_legacy_factory(
        WSDL, {"QueryPerson": {"person": people}}, encoding=encoding, declare_encoding=declare
    )
    assert client(fake).call("QueryPerson", sfzh=ZHANG)["person"][0]["xm"] == f"{rare}三"


def test_a_gbk_declaration_with_gb18030_characters_is_read_as_gb18030() -> None:
    body = '<?xml version="1.0" encoding="GBK"?><a>𠮷</a>'.encode("gb18030")
    assert to_utf8(body, "text/xml").decode("utf-8").endswith("<a>𠮷</a>")
    assert to_utf8("<a>é</a>".encode(), "text/xml; charset=utf-8") == "<a>é</a>".encode()
    with pytest.raises(ConfigurationError, match="set encoding="):
        to_utf8(b"<a>\xff\xfe\xfd</a>", "text/xml; charset=utf-8", encoding="ascii")


def test_a_bad_input_or_operation_names_what_exists(soap_legacy_factory: Factory) -> None:
    fake = soap_legacy_factory(WSDL, ANSWERS)
    soap = client(fake)
    with pytest.raises(ConfigurationError, match="no operation 'Nope'; it has: ListPersons"):
        soap.call("Nope")
    with pytest.raises(InvalidInputError, match="does not fit the WSDL"):
        soap.call("QueryPerson", sfzh=ZHANG, unknown="x")
    with pytest.raises(ConfigurationError, match="cannot read the WSDL"):
        SoapClient(WSDL.with_name("missing.wsdl"))


def test_a_record_the_model_refuses_names_operation_item_and_field(
    soap_legacy_factory: Factory,
) -> None:
    bad = [{**hj.PEOPLE[0], "sfzh": "110105194912310021"}]  # wrong check digit
    fake = soap_legacy_factory(WSDL, {"QueryPerson": {"person": bad}})
    with pytest.raises(InvalidInputError) as caught:
        list(
            client(fake).records(
                "QueryPerson", {"sfzh": ZHANG}, Resident, items="person", fields=hj.RESIDENT_FIELDS
            )
        )
    (problem,) = caught.value.problems
    assert problem.field == "HjxtService.QueryPerson[1].citizen_id"
    assert problem.rule == "citizen_id.check_digit"


def test_importing_govconnect_does_not_import_zeep_or_lxml() -> None:
    code = (
        "import sys, govconnect, govconnect.testing, govconnect.testing.pytest_plugin, govconnect.cli;"
        "govconnect.cli.build();"
        "print(sorted(m for m in ('zeep', 'lxml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_unreadable_wsdl_url_is_named_without_its_credentials() -> None:
    with pytest.raises(ConfigurationError, match=r"cannot read the WSDL http://\*\*\*@127") as info:
        SoapClient("http://jkyh:s3cret@127.0.0.1:9/ws?wsdl")
    assert "s3cret" not in str(info.value)
