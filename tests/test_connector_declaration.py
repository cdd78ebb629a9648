"""Declaring a connector: services, records, parameters — and the load-time errors for mistakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from govconnect import (
    ConfigurationError,
    Connector,
    DataType,
    Department,
    InvalidInputError,
    LegacySystem,
    Level,
    Record,
    ResourceFormat,
    ServiceDefinitionError,
    SharingMethod,
    dataset,
    field,
    query,
)
from tests.sample_connector import Person, Registry

META = {
    "code": "111112001/0201",
    "name": "测试",
    "abstract": "测试服务",
    "sharing": "unconditional",
    "update_cycle": "daily",
    "published": "2026-01-01",
}


def make_connector(record: type[BaseModel] = Person, **overrides: object) -> type[Connector]:
    meta = {**META, **overrides}

    class Broken(Connector):
        name = "broken"
        department = Department(code="D1", name="部门")
        system = LegacySystem(code="S1", name="系统")

        @query(record=record, **meta)
        def lookup(self) -> Iterator[Person]:
            yield from ()

    return Broken


def problems_of(cls: type[Connector]) -> list[tuple[str, str]]:
    with pytest.raises(ServiceDefinitionError) as info:
        cls.services()
    return [(p.field, p.rule) for p in info.value.problems]


def test_services_are_read_from_the_class() -> None:
    services = Registry.services()
    assert set(services) == {"person", "people"}
    person = services["person"]
    assert person.kind == "query"
    assert person.id == "DEPT01/SYS01/person/v1"
    assert person.resource.format is ResourceFormat.SELF_DESCRIBING
    assert person.resource.sharing.method is SharingMethod.INTERFACE
    assert services["people"].resource.format is ResourceFormat.DATABASE
    assert services["people"].key == "citizen_id"


def test_information_items_carry_type_code_length_and_level() -> None:
    items = {i.name: i for i in Registry.service("person").resource.items}
    assert items["citizen_id"].data_type is DataType.CHAR
    assert items["citizen_id"].length == 18
    assert items["name"].length == 50
    assert items["born"].data_type is DataType.DATE
    assert items["born"].level is Level.IMPORTANT
    assert items["district"].personal is False


def test_data_type_can_be_overridden() -> None:
    class Fee(Record):
        amount: float = field("金额", level="internal", data_type="Y")

    items = {i.name: i for i in make_connector(Fee).service("lookup").resource.items}
    assert items["amount"].data_type is DataType.CURRENCY


def test_unclassified_field_is_a_load_error_naming_connector_service_and_field() -> None:
    class Loose(Record):
        name: str

    assert problems_of(make_connector(Loose)) == [("broken.lookup.name", "item.classified")]
    with pytest.raises(ServiceDefinitionError, match=r"(?s)'broken'.*broken\.lookup\.name"):
        make_connector(Loose).services()


def test_untyped_field_is_a_load_error() -> None:
    class Odd(Record):
        blob: object = field("对象", level="internal")

    assert problems_of(make_connector(Odd)) == [("broken.lookup.blob", "item.typed")]


def test_metadata_errors_are_reported_together() -> None:
    cls = make_connector(code="bad", sharing="conditional", update_cycle="hourly")
    found = problems_of(cls)
    assert ("broken.lookup.update_cycle", "enum") in found


def test_catalog_rules_apply_at_declaration() -> None:
    found = problems_of(make_connector(code="bad", sharing="conditional"))
    assert ("broken.lookup.code", "resource_code.format") in found
    assert ("broken.lookup.sharing.conditions", "sharing.conditions_required") in found


def test_unknown_metadata_keyword_is_refused() -> None:
    assert ("broken.lookup.sharng", "extra_forbidden") in problems_of(make_connector(sharng="x"))


def test_dataset_must_name_an_existing_key() -> None:
    class Ds(Connector):
        name = "ds"
        department = Department(code="D1", name="部门")
        system = LegacySystem(code="S1", name="系统")

        @dataset(**META)
        def nokey(self) -> Iterator[Person]:
            yield from ()

        @dataset(**{**META, "code": "111112001/0202"}, key="nope", replication_key="nada")
        def badkey(self) -> Iterator[Person]:
            yield from ()

    found = problems_of(Ds)
    assert ("ds.nokey.key", "dataset.key_required") in found
    assert ("ds.badkey.key", "service.key") in found
    assert ("ds.badkey.replication_key", "service.replication_key") in found


def test_record_model_must_be_streamed() -> None:
    class Listy(Connector):
        name = "listy"
        department = Department(code="D1", name="部门")
        system = LegacySystem(code="S1", name="系统")

        @query(**META)
        def everything(self) -> list[Person]:
            return []

    assert problems_of(Listy) == [("listy.everything.record", "service.record")]


def test_connector_identity_is_checked() -> None:
    class Nameless(Connector):
        name = "Not A Name"

        @query(**META)
        def lookup(self) -> Iterator[Person]:
            yield from ()

    found = problems_of(Nameless)
    assert ("Not A Name", "connector.name") in found
    assert ("Not A Name.department", "connector.department") in found


def test_connector_without_services_is_an_error() -> None:
    class Empty(Connector):
        name = "empty"
        department = Department(code="D1", name="部门")
        system = LegacySystem(code="S1", name="系统")

    assert problems_of(Empty) == [("empty", "connector.services")]


def test_run_validates_params_before_touching_the_legacy_system() -> None:
    conn = Registry()
    with pytest.raises(InvalidInputError) as info:
        list(conn.run("person", {"citizen_id": "110105194912310021"}))
    assert info.value.problems[0].field == "params.citizen_id"
    assert info.value.problems[0].rule == "citizen_id.check_digit"


def test_run_streams_validated_records() -> None:
    conn = Registry()
    stream = conn.run("people")
    assert isinstance(stream, Iterator)
    records = list(stream)
    assert [type(r) for r in records] == [Person, Person]
    (found,) = conn.run("person", {"citizen_id": "11010519491231002x"})
    assert found.name == "张三"


def test_unknown_service_names_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"has no service 'nope'.*person"):
        Registry.service("nope")


def test_settings_come_from_mapping_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    class Settings(BaseModel):
        url: str = "sqlite://"
        size: int = 10

    class Configured(Connector):
        name = "configured"
        department = Department(code="D1", name="部门")
        system = LegacySystem(code="S1", name="系统")

    Configured.Settings = Settings
    monkeypatch.setenv("GOVCONNECT_CONFIGURED_SIZE", "42")
    assert Configured().settings.size == 42
    assert Configured({"size": 7}).settings.size == 7
    with pytest.raises(ConfigurationError, match=r"connectors\.configured\.size"):
        Configured({"size": "many"})
