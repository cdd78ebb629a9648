"""Writing cases into a legacy WebService: IntakeBridge → SoapSink → the SOAP fake on loopback.

The target is the operation's input message, checked at load against the WSDL; the case id travels
as ``Idempotency-Key``; a Client fault returns the case, a 500 leaves it for the next round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from govconnect import (
    Connector,
    Department,
    ExchangeClient,
    From,
    IntakeBridge,
    IntakeJournal,
    LegacySystem,
    Outbox,
    RetryPolicy,
    ServiceDefinitionError,
    intake,
    load_registry,
)
from govconnect.soap import SoapClient, SoapSink, soap_input
from govconnect.testing import MockPlatform, SoapLegacyFake

from . import soap_support as hj

NODE = "11010500000/HJXT"
FAST = RetryPolicy(max_attempts=2, deadline=5, initial=0.01, max_wait=0.02, jitter=0)


def case(n: int, **changes: Any) -> dict[str, Any]:
    body = {
        "case_id": f"HJWS{n:06d}",
        "matter_code": hj.MATTER,
        "matter_name": "户口迁入",
        "applicant": {
            "kind": "person",
            "name": "张三",
            "citizen_id": "11010519491231002X",
            "phone": "13800138000",
        },
        "form": {"birth_date": "1949-12-31", "province": "山东省"},
        "submitted_at": "2026-11-20T09:00:00",
        "channel": "online",
    }
    return {**body, **changes}


class Rig(NamedTuple):
    bridge: IntakeBridge
    fake: SoapLegacyFake
    platform: MockPlatform


@pytest.fixture
def rig(
    mock_platform: MockPlatform,
    soap_legacy_factory: Callable[..., SoapLegacyFake],
    tmp_path: Path,
) -> Iterator[Rig]:
    hj.APPLICATIONS.clear()
    fake = soap_legacy_factory(hj.WSDL, hj.ANSWERS, username="jkyh", password="口令-1")
    registry = load_registry(
        plugins=[hj],
        entry_points=False,
        config={
            "connectors": {"hjxt": {"endpoint": fake.url, "username": "jkyh", "password": "口令-1"}}
        },
    )
    client = ExchangeClient(
        mock_platform.url, token=mock_platform.token, node=NODE, user_id="clerk-1", retry=FAST
    )
    outbox = Outbox(tmp_path / "outbox.sqlite")
    journal = IntakeJournal(outbox.path)
    bridge = IntakeBridge(registry, client, outbox, journal)
    yield Rig(bridge, fake, mock_platform)
    bridge.close()
    journal.close()
    outbox.close()
    client.close()


def test_a_case_is_written_through_the_web_service_once(rig: Rig) -> None:
    bridge = rig.bridge
    fake = rig.fake
    platform = rig.platform
    for n in (1, 2):
        platform.enqueue_case(case(n), node=NODE)
    report = bridge.run_once()
    assert (report.pulled, report.written, report.returned) == (2, 2, 0)
    call = fake.calls_to("SubmitApplication")[0]
    assert call.headers["idempotency-key"] == "HJWS000001"
    assert call.body == {
        "sqbh": "HJWS000001",
        "sqr": {
            "sfzh": "11010519491231002X",
            "xm": "张三",
            "csrq": "1949-12-31",
            "zz": {"sheng": "山东省"},
        },
        "sqsx": "户口迁入",
    }
    outcome = report.outcomes[0]
    assert outcome.outcome == "written" and outcome.reference == "SL-00001"
    assert list(hj.APPLICATIONS) == ["HJWS000001", "HJWS000002"]
    # redelivered by a platform that lost the acknowledgement: the journal, then the legacy key
    assert bridge.process(case(1)).outcome == "already_processed"


def test_the_legacy_key_refuses_a_second_record(rig: Rig) -> None:
    fake = rig.fake
    sink = SoapSink(
        SoapClient(hj.WSDL, endpoint=fake.url, security=hj.SoapSecurity("jkyh", "口令-1")),
        "SubmitApplication",
        reference="slbh",
    )
    values = {
        "sqbh": "K1",
        "sqr.sfzh": "1",
        "sqr.xm": "x",
        "sqr.csrq": "2000-01-01",
        "sqsx": "户口迁入",
    }
    first, again = sink.write("K1", values), sink.write("K1", values)
    assert (first.applied, again.applied) == (True, False)
    assert first.reference == again.reference == "SL-00001"
    assert first.result == {"slbh": "SL-00001", "duplicate": False}
    sink.close()


def test_a_client_fault_returns_the_case_with_the_fault_string(rig: Rig) -> None:
    bridge = rig.bridge
    platform = rig.platform
    platform.enqueue_case(case(3, matter_name="户口迁出"), node=NODE)
    report = bridge.run_once()
    (outcome,) = report.outcomes
    assert outcome.outcome == "returned"
    (problem,) = outcome.problems
    assert problem.rule == "soap_fault.Client" and "不受理的事项: 户口迁出" in problem.message


def test_a_server_failure_leaves_the_case_for_the_next_round(rig: Rig) -> None:
    bridge = rig.bridge
    fake = rig.fake
    platform = rig.platform
    platform.enqueue_case(case(4), node=NODE)
    fake.inject("http_500", times=5)
    first = bridge.run_once()
    assert first.written == 0 and "HJWS000004" not in platform.acknowledged_cases
    fake.clear_faults()
    second = bridge.run_once()
    assert second.written == 1 and list(hj.APPLICATIONS) == ["HJWS000004"]


def test_the_mapping_is_checked_against_the_wsdl_at_load() -> None:
    class Broken(Connector):
        name = "broken_soap"
        department = Department(code="11010500000", name="某局")
        system = LegacySystem(code="WS", name="某系统")

        @intake(
            matter_code="M-1",
            name="某事项",
            target=soap_input(hj.WSDL, "SubmitApplication"),
            mapping={"sqbh": From("case_id"), "sqr.xingming": From("applicant.name")},
        )
        def apply(self) -> SoapSink:
            raise AssertionError("not built at load")

        @intake(
            matter_code="M-2",
            name="另一事项",
            target=soap_input(hj.WSDL, "NoSuchOperation"),
            mapping={"sqbh": From("case_id")},
        )
        def other(self) -> SoapSink:
            raise AssertionError("not built at load")

    with pytest.raises(ServiceDefinitionError) as caught:
        Broken.services()
    text = str(caught.value)
    assert "sqr.xingming" in text  # an element the operation does not have
    assert "sqr.xm" in text and "sqsx" in text  # required elements left unmapped
    assert "SubmitApplication input of hjxt.wsdl" in text
    assert "no operation 'NoSuchOperation'" in text and "SubmitApplication" in text
