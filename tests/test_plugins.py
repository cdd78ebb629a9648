"""Plugin discovery: entry points and in-process plugins; one broken plugin never stops the others."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from types import SimpleNamespace

import pytest

import govconnect._plugins as plugins_module
from govconnect import Connector, hookimpl, load_registry, make_plugin_manager
from tests import sample_connector
from tests.sample_connector import Person


def ns(**hooks: object) -> SimpleNamespace:
    """An in-process plugin object with the given hook implementations."""
    return SimpleNamespace(__name__=hooks.pop("name", "anon"), **hooks)


def test_entry_point_plugins_are_discovered() -> None:
    reg = load_registry(config={})
    assert "household" in reg.connectors
    assert reg.connector_plugin["household"] == "household"
    assert reg.pm.origins["household"].startswith("entry point")


def test_builtin_behaviour_is_a_plugin() -> None:
    reg = load_registry(entry_points=False, config={})
    assert reg.pm.origins["govconnect._default_plugins"] == "builtin"
    assert {"gender", "ethnicity"} <= set(reg.code_tables)
    assert reg.code_tables["ethnicity"].code_for("汉族") == "01"


def test_in_process_plugins_register_connectors() -> None:
    reg = load_registry(plugins=[sample_connector], entry_points=False, config={})
    assert list(reg.connectors) == ["people"]
    assert [s.code for s in reg.services()] == ["111112001/0101", "111112001/0102"]
    assert reg.errors == []


def test_failing_import_is_reported_and_others_load(monkeypatch: pytest.MonkeyPatch) -> None:
    real = plugins_module.entry_points

    def fake_entry_points(group: str):
        broken = EntryPoint("broken", "no_such_module_xyz", group)
        return [broken, *real(group=group)]

    monkeypatch.setattr(plugins_module, "entry_points", fake_entry_points)
    reg = load_registry(config={})
    (error,) = reg.errors
    assert error.plugin == "broken"
    assert "no_such_module_xyz" in error.reason and "ModuleNotFoundError" in error.reason
    assert "household" in reg.connectors


def test_invalid_connector_is_reported_with_plugin_name_and_reason() -> None:
    class Bad(Connector):
        name = "bad"

    @hookimpl
    def register_connectors():
        return [Bad]

    reg = load_registry(
        plugins=[ns(name="bad_plugin", register_connectors=register_connectors), sample_connector],
        entry_points=False,
        config={},
    )
    (error,) = reg.errors
    assert error.plugin == "bad_plugin"
    assert "bad.department" in error.reason
    assert "people" in reg.connectors


def test_hook_that_raises_is_isolated() -> None:
    @hookimpl
    def register_connectors():
        raise RuntimeError("database password missing")

    reg = load_registry(
        plugins=[ns(name="explodes", register_connectors=register_connectors), sample_connector],
        entry_points=False,
        config={},
    )
    (error,) = reg.errors
    assert error.plugin == "explodes"
    assert "RuntimeError: database password missing" in error.reason
    assert "people" in reg.connectors


def test_misspelled_hook_is_an_error_not_silence() -> None:
    @hookimpl
    def register_conectors():
        return []

    pm = make_plugin_manager(
        plugins=[ns(name="typo", register_conectors=register_conectors)],
        entry_points_enabled=False,
    )
    (error,) = pm.load_errors
    assert error.plugin == "typo"
    assert "unknown hook(s): register_conectors" in error.reason
    assert pm.get_plugin("typo") is None


def test_returning_something_else_than_a_connector_class() -> None:
    @hookimpl
    def register_connectors():
        return ["not a class"]

    reg = load_registry(
        plugins=[ns(name="odd", register_connectors=register_connectors)],
        entry_points=False,
        config={},
    )
    assert "not a Connector class" in reg.errors[0].reason


def test_duplicate_connector_names_are_refused() -> None:
    class Twin(sample_connector.Registry):
        name = "people"

        def people(self) -> Iterator[Person]:  # not a service: overrides nothing declared
            yield from ()

    @hookimpl
    def register_connectors():
        return [Twin]

    reg = load_registry(
        plugins=[sample_connector, ns(name="twin", register_connectors=register_connectors)],
        entry_points=False,
        config={},
    )
    assert reg.connectors["people"] is sample_connector.Registry
    assert "already registered" in reg.errors[0].reason


def test_transform_names_must_be_unique() -> None:
    @hookimpl
    def register_transforms():
        return {"upper": str.upper}

    reg = load_registry(
        plugins=[
            ns(name="one", register_transforms=register_transforms),
            ns(name="two", register_transforms=register_transforms),
        ],
        entry_points=False,
        config={},
    )
    assert reg.transforms["upper"]("a") == "A"
    assert [e.plugin for e in reg.errors] == ["two"]


def test_exchange_event_observers_cannot_break_delivery() -> None:
    from govconnect import EventKind, ExchangeEvent

    seen: list[ExchangeEvent] = []

    @hookimpl
    def exchange_event(event):
        seen.append(event)

    reg = load_registry(
        plugins=[
            ns(name="watcher", exchange_event=exchange_event),
            ns(name="buggy", exchange_event=hookimpl(lambda event: 1 / 0)),
        ],
        entry_points=False,
        config={},
    )
    event = ExchangeEvent(kind=EventKind.DELIVERED, message_id="m1", operation="publish")
    reg.emit(event)
    assert seen == [event]
