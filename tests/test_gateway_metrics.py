"""The gateway's ``/metrics`` with the department's outbox: depth, oldest pending record and dead
letters as gauges, on both outbox engines, read at most every few seconds, and a store that
fails to answer shown as ``govconnect_outbox_up 0`` without failing the scrape."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from govconnect import Outbox
from govconnect.gateway.app import Gateway
from govconnect.gateway.metrics import OutboxGauges

from .gateway_support import asgi_get, gateway_config, registry
from .outbox_support import ENGINES, outbox_location

CODE = "111112001/2001"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=ENGINES)
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Outbox]:
    """An outbox of either engine holding 4 pending records and 1 dead letter of 2 records."""
    with outbox_location(request.param, tmp_path) as location, Outbox(location) as box:
        box.enqueue(CODE, [{"id": 1}, {"id": 2}])
        batch = box.claim("worker")
        assert batch is not None
        box.bury(batch, "refused by the platform")
        box.enqueue(CODE, [{"id": i} for i in range(3, 7)])
        yield box


def scrape(gateway: Gateway) -> dict[str, float]:
    status, _, body = asgi_get(gateway.app, "/metrics")
    assert status == 200
    found = re.findall(r"^(govconnect_outbox_\w+) (\S+)$", body.decode(), re.MULTILINE)
    return {name: float(value) for name, value in found}


@pytest.fixture
def gateway(tmp_path: Path, outbox: Outbox) -> Iterator[Gateway]:
    gw = Gateway(registry(), gateway_config(), audit=tmp_path / "audit.sqlite", outbox=outbox)
    yield gw
    gw.close()


def test_metrics_export_the_outbox_gauges(gateway: Gateway) -> None:
    gauges = scrape(gateway)
    assert gauges["govconnect_outbox_up"] == 1
    assert gauges["govconnect_outbox_pending_records"] == 4
    assert gauges["govconnect_outbox_dead_letters"] == 1
    assert gauges["govconnect_outbox_dead_letter_records"] == 2
    assert gauges["govconnect_outbox_in_flight_records"] == 0
    assert 0 <= gauges["govconnect_outbox_oldest_pending_age_seconds"] < 60
    _, _, body = asgi_get(gateway.app, "/metrics")
    assert b"# TYPE govconnect_outbox_pending_records gauge" in body
    assert b"govconnect_gateway_start_time_seconds" in body  # the gateway's own, as before


def test_readings_are_cached_for_a_few_seconds(tmp_path: Path, outbox: Outbox) -> None:
    clock = Clock()
    gauges = OutboxGauges(outbox, ttl=5, clock=clock, now=lambda: clock.now)
    gw = Gateway(registry(), gateway_config(), audit=tmp_path / "audit.sqlite")
    gw.metrics.outbox = gauges
    try:
        assert scrape(gw)["govconnect_outbox_pending_records"] == 4
        outbox.enqueue(CODE, [{"id": 99}])
        clock.now += 4.9  # within the cache: the store is not asked again
        assert scrape(gw)["govconnect_outbox_pending_records"] == 4
        clock.now += 0.2
        assert scrape(gw)["govconnect_outbox_pending_records"] == 5
    finally:
        gw.close()
    assert outbox.status().pending == 5  # the caller's outbox is left open


def test_an_outbox_that_fails_is_up_0_and_the_scrape_still_answers(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert gateway.metrics.outbox is not None
    gateway.metrics.outbox.ttl = 0

    def broken() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    real = gateway.metrics.outbox.outbox.status
    monkeypatch.setattr(gateway.metrics.outbox.outbox, "status", broken)
    assert scrape(gateway) == {"govconnect_outbox_up": 0}
    assert "metrics: outbox unavailable (OperationalError: disk I/O error)" in caplog.text
    monkeypatch.setattr(gateway.metrics.outbox.outbox, "status", real)
    assert scrape(gateway)["govconnect_outbox_up"] == 1


def test_an_outbox_given_by_location_is_opened_and_closed_by_the_gateway(tmp_path: Path) -> None:
    location = tmp_path / "outbox.sqlite"
    with Outbox(location) as box:
        box.enqueue(CODE, [{"id": 1}])
    gw = Gateway(
        registry(), gateway_config(), audit=tmp_path / "audit.sqlite", outbox=str(location)
    )
    try:
        assert scrape(gw)["govconnect_outbox_pending_records"] == 1
    finally:
        gw.close()


def test_without_an_outbox_there_are_no_outbox_gauges(tmp_path: Path) -> None:
    gw = Gateway(registry(), gateway_config(), audit=tmp_path / "audit.sqlite")
    try:
        assert scrape(gw) == {}
    finally:
        gw.close()
