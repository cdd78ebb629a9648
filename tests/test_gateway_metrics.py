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


@pytest.mark.parametrize("engine", ENGINES)
def test_a_location_without_an_outbox_is_up_0_and_never_created(
    engine: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A mistyped ``--outbox`` file or ``?schema=``: nothing is created there, the scrape says
    ``up 0``, one warning names the location (no password); once an outbox exists, it is read."""
    from govconnect.exchange.outbox.presence import outbox_exists

    with outbox_location(engine, tmp_path / "typo") as location:
        if engine != "sqlite":  # a password in the URL (trust auth on the test server ignores it)
            location = location.replace("://postgres@", "://postgres:s3cret@")
        gw = Gateway(registry(), gateway_config(), audit=tmp_path / "audit.sqlite", outbox=location)
        try:
            assert gw.metrics.outbox is not None
            gw.metrics.outbox.ttl = 0
            assert scrape(gw) == {"govconnect_outbox_up": 0}
            assert scrape(gw) == {"govconnect_outbox_up": 0}
            assert not outbox_exists(location)  # the scrapes created nothing
            if engine == "sqlite":
                assert not Path(location).exists() and not Path(location).parent.exists()
            warnings = [r.getMessage() for r in caplog.records if "no outbox at" in r.getMessage()]
            assert len(warnings) == 1 and "s3cret" not in caplog.text
            where = location.rsplit("/", 1)[-1]  # the file's name; the database and schema
            assert where in warnings[0] and "GOVCONNECT_OUTBOX" in warnings[0]
            with Outbox(location) as box:  # the department's outbox appears
                box.enqueue(CODE, [{"id": 1}])
            assert scrape(gw)["govconnect_outbox_pending_records"] == 1
        finally:
            gw.close()


def test_an_unreachable_outbox_does_not_stop_the_gateway(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The outbox only feeds the gauges: a server that is down at start is ``up 0``."""
    down = "postgresql://gc:s3cret@127.0.0.1:1/test?schema=gc_nowhere"
    gw = Gateway(registry(), gateway_config(), audit=tmp_path / "audit.sqlite", outbox=down)
    try:
        assert scrape(gw) == {"govconnect_outbox_up": 0}
    finally:
        gw.close()
    assert (
        "metrics: outbox unavailable (ConfigurationError: cannot read the outbox at" in caplog.text
    )
    assert "postgresql://gc@127.0.0.1:1/test" in caplog.text and "s3cret" not in caplog.text


def test_outbox_exists_creates_nothing_and_names_an_unreadable_file(tmp_path: Path) -> None:
    from govconnect import ConfigurationError
    from govconnect.exchange.outbox.presence import outbox_exists

    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    assert not outbox_exists(other)  # a database, not an outbox
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigurationError, match=r"cannot read the outbox at .*garbage\.sqlite"):
        outbox_exists(garbage)
    assert not outbox_exists(tmp_path / "missing.sqlite")
    assert not (tmp_path / "missing.sqlite").exists()
