"""The conformance kit: the standard checks every connector must pass, for pytest and the CLI.

A plugin describes what the checks need once, in a :class:`Conformance` — the connector class,
sample parameters for each service that takes any, and a *sample legacy system* (a function that
builds one in a folder and returns the connector settings that reach it)::

    conformance = Conformance(
        HouseholdConnector,
        sample_params={"resident": {"citizen_id": "11010519491231002X"}},
        legacy=sample_legacy_system,
    )

Its whole standard test file is then three lines::

    from govconnect.testing import conformance_tests
    from govconnect_household import conformance

    TestConformance = conformance_tests(conformance)

and ``govconnect check household`` runs the very same checks from the command line.

Each check is one function registered with :func:`check`; a check that needs a piece of the SDK
that lands later (intake mappings, the exchange round trip with the mock platform) is added the same
way, as one more function, and every plugin's test file picks it up without an edit.
"""

from __future__ import annotations

import contextlib
import inspect
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from .._catalog import Catalog, Resource, resource_problems
from .._classification import Level
from .._connector import Connector, Service
from .._exceptions import GovConnectError, InvalidInputError, Problem, ServiceDefinitionError
from .._fields import information_items
from .._identity import CitizenId, CreditCode, mask, mask_citizen_id, mask_credit_code
from .._validation import problems_from_pydantic, validate_model

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "Conformance",
    "ConformanceSession",
    "LegacyFactory",
    "Outcome",
    "check",
    "conformance_tests",
    "failed",
    "masked_value",
    "passed",
    "run_conformance",
    "skipped",
]

LegacyFactory = Callable[[Path], Any]
"""Builds a sample legacy system in a folder and returns (or yields, or returns a context manager
giving) the connector settings that reach it."""

SAMPLE_LIMIT = 1000
"""Records read from one service by the checks: enough to see variety, bounded for big datasets."""

Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Conformance:
    """What the standard checks need to know about one connector.

    ``sample_params`` maps a service name to parameters that must return at least one record;
    a service whose parameters are all optional may be left out. ``legacy`` builds the sample legacy
    system (see :data:`LegacyFactory`); without it the checks use ``settings`` (or the connector's
    defaults and environment).
    """

    connector: type[Connector]
    sample_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    legacy: LegacyFactory | None = None
    settings: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        return str(getattr(self.connector, "name", self.connector.__name__))


@dataclass(frozen=True)
class Outcome:
    """What one check found for one service: its status, a short note, and the broken rules."""

    status: Status
    detail: str = ""
    problems: tuple[Problem, ...] = ()


def passed(detail: str = "") -> Outcome:
    return Outcome("passed", detail)


def failed(*problems: Problem, detail: str = "") -> Outcome:
    return Outcome("failed", detail or f"{len(problems)} problem(s)", tuple(problems))


def skipped(reason: str) -> Outcome:
    return Outcome("skipped", reason)


@dataclass(frozen=True)
class CheckResult:
    """One line of a conformance report: check, target (``connector.service``) and outcome."""

    check: str
    title: str
    target: str
    outcome: Outcome

    @property
    def status(self) -> Status:
        return self.outcome.status

    def report(self) -> str:
        """The result as readable text, every problem on its own line."""
        head = f"{self.status.upper()} {self.check} [{self.target}]: {self.title}"
        lines = [head + (f" — {self.outcome.detail}" if self.outcome.detail else "")]
        lines.extend(f"  - {p}" for p in self.outcome.problems)
        return "\n".join(lines)


@dataclass(frozen=True)
class Check:
    """A standard check: a name for reports and test ids, a sentence, and the function to run."""

    name: str
    title: str
    run: Callable[[ConformanceSession, Service], Outcome]
    applies: Callable[[Service], bool]


CHECKS: list[Check] = []
"""Every standard check, in the order reports show them."""


def check(
    name: str, title: str, *, applies: Callable[[Service], bool] = lambda svc: True
) -> Callable[[Callable[[ConformanceSession, Service], Outcome]], Check]:
    """Register a standard check; ``applies`` limits it to some services (e.g. datasets)."""

    def register(fn: Callable[[ConformanceSession, Service], Outcome]) -> Check:
        registered = Check(name=name, title=title, run=fn, applies=applies)
        CHECKS[:] = [c for c in CHECKS if c.name != name] + [registered]
        return registered

    return register


class ConformanceSession:
    """The sample legacy system, a connector instance on it, and records read once per service.

    A context manager: entering builds the legacy system in ``workdir``; leaving closes the
    connector and tears the legacy system down. Checks share the session, so the sample query of
    a service runs once however many checks look at its records.
    """

    def __init__(self, spec: Conformance, workdir: Path) -> None:
        self.spec = spec
        self.workdir = workdir
        self._stack = contextlib.ExitStack()
        self._connector: Connector | None = None
        self._connector_error: str | None = None
        self._records: dict[str, list[BaseModel] | Outcome] = {}

    def __enter__(self) -> ConformanceSession:
        settings: Mapping[str, Any] | None = self.spec.settings
        try:
            if self.spec.legacy is not None:
                settings = self._stack.enter_context(_as_context(self.spec.legacy, self.workdir))
            self._connector = self.spec.connector(dict(settings) if settings is not None else None)
            self._stack.callback(self._connector.close)
        except Exception as exc:
            self._connector_error = f"{type(exc).__name__}: {exc}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def connector(self) -> Connector | Outcome:
        """The connector on the sample legacy system, or the failure that prevented it."""
        if self._connector is None:
            return failed(
                Problem(
                    self.spec.name,
                    "conformance.connector",
                    f"the connector could not be set up on its sample legacy system: "
                    f"{self._connector_error}",
                )
            )
        return self._connector

    def sample_params(self, svc: Service) -> BaseModel | Outcome:
        """The service's sample parameters, validated; a failure names the missing sample."""
        given = self.spec.sample_params.get(svc.name)
        try:
            return validate_model(svc.params_model, given or {}, f"{svc.qualified_name}.params")
        except InvalidInputError as exc:
            if given is None:
                return failed(
                    Problem(
                        f"{svc.qualified_name}.params",
                        "conformance.sample_params",
                        f"the service takes required parameters: give sample_params="
                        f"{{{svc.name!r}: {{...}}}} that return at least one record",
                    )
                )
            return failed(*exc.problems)

    def records(self, svc: Service) -> list[BaseModel] | Outcome:
        """Up to :data:`SAMPLE_LIMIT` records of the sample query (run once per service)."""
        if svc.name not in self._records:
            self._records[svc.name] = self._read(svc)
        return self._records[svc.name]

    def _read(self, svc: Service) -> list[BaseModel] | Outcome:
        instance = self.connector()
        if isinstance(instance, Outcome):
            return instance
        params = self.sample_params(svc)
        if isinstance(params, Outcome):
            return params
        try:
            return list(islice(instance.run(svc, params), SAMPLE_LIMIT))
        except GovConnectError as exc:
            problems = getattr(exc, "problems", None) or [
                Problem(svc.qualified_name, "conformance.run", str(exc))
            ]
            return failed(*problems)
        except Exception as exc:
            return failed(
                Problem(
                    svc.qualified_name,
                    "conformance.run",
                    f"the service raised {type(exc).__name__}: {exc}",
                )
            )

    def run(self, chk: Check, svc: Service) -> CheckResult:
        try:
            outcome = chk.run(self, svc)
        except Exception as exc:
            outcome = failed(
                Problem(svc.qualified_name, f"conformance.{chk.name}", f"check crashed: {exc!r}")
            )
        return CheckResult(chk.name, chk.title, svc.qualified_name, outcome)


def _as_context(factory: LegacyFactory, workdir: Path) -> contextlib.AbstractContextManager[Any]:
    """Accept a plain function, a generator function or a context-manager factory."""
    if inspect.isgeneratorfunction(factory):
        return contextlib.contextmanager(factory)(workdir)
    produced = factory(workdir)
    if isinstance(produced, contextlib.AbstractContextManager):
        return produced
    return contextlib.nullcontext(produced)


# --- the standard checks ---------------------------------------------------------------------------


@check("catalog_entry", "the catalog entry is valid and survives the catalog document")
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


@check("fields_classified", "every record field is typed, classified and flagged personal or not")
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


@check("sample_query", "sample params validate and return records matching the record model")
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
        return failed(*problems[:20])
    return passed(f"{len(records)} record(s)")


@check(
    "dataset_streams",
    "the dataset streams records (an iterator, not a list built in memory)",
    applies=lambda svc: svc.kind == "dataset",
)
def _dataset_streams(session: ConformanceSession, svc: Service) -> Outcome:
    instance = session.connector()
    if isinstance(instance, Outcome):
        return instance
    params = session.sample_params(svc)
    if isinstance(params, Outcome):
        return params
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


@check("personal_masked", "personal-information fields are masked by the SDK's masking helpers")
def _personal_masked(session: ConformanceSession, svc: Service) -> Outcome:
    personal = [
        name
        for name, info in svc.record_model.model_fields.items()
        if isinstance(info.json_schema_extra, dict)
        and info.json_schema_extra.get("x-personal-information")
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
        leaked = [v for v in values if masked_value(v) == str(v)]
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


def masked_value(value: object) -> str:
    """How the SDK masks one personal value: identity numbers keep their structure, the rest
    keeps one leading character."""
    if isinstance(value, CitizenId):
        return mask_citizen_id(value)
    if isinstance(value, CreditCode):
        return mask_credit_code(value)
    text = str(value)
    return mask(text, 1, 1 if len(text) > 3 else 0)


def _looks_like_citizen_id(value: object) -> bool:
    try:
        CitizenId.parse(value)
    except (GovConnectError, ValueError):
        return False
    return True


# --- running the checks ----------------------------------------------------------------------------


def _declaration_failure(spec: Conformance) -> CheckResult | None:
    try:
        spec.connector.services()
    except ServiceDefinitionError as exc:
        return CheckResult(
            "declaration",
            "the connector declaration is valid",
            spec.name,
            failed(*exc.problems),
        )
    return None


def run_conformance(spec: Conformance, workdir: Path | None = None) -> list[CheckResult]:
    """Run every standard check on every service it applies to; the sample legacy system is
    built in ``workdir`` (a temporary folder by default)."""
    broken = _declaration_failure(spec)
    if broken is not None:
        return [broken]
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="govconnect-")))
        session = stack.enter_context(ConformanceSession(spec, workdir))
        return [
            session.run(chk, svc)
            for chk in CHECKS
            for svc in spec.connector.services().values()
            if chk.applies(svc)
        ]


def conformance_tests(spec: Conformance | type[Connector], **options: Any) -> type:
    """A pytest test class with one test per standard check, parametrised by the services the
    check applies to (a check that applies to none, e.g. ``dataset_streams`` of a connector without
    datasets, gets no test).

    Assign it in a test module under a ``Test`` name: ``TestConformance = conformance_tests(spec)``.
    A connector class may be passed instead of a spec, with the spec's fields as keywords.
    """
    import pytest

    conf = spec if isinstance(spec, Conformance) else Conformance(spec, **options)

    class ConformanceTests:
        """The standard govconnect conformance checks (see ``govconnect.testing.CHECKS``)."""

        @pytest.fixture(scope="class")
        @classmethod
        def conformance_session(
            cls, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ConformanceSession]:
            workdir = tmp_path_factory.mktemp(f"conformance-{conf.name}")
            with ConformanceSession(conf, workdir) as session:
                yield session

    broken = _declaration_failure(conf)
    if broken is not None:
        message = broken.report()

        def test_declaration(self: Any) -> None:
            pytest.fail(message, pytrace=False)

        ConformanceTests.test_declaration = test_declaration  # type: ignore[attr-defined]
    else:
        services = list(conf.connector.services().values())
        for chk in CHECKS:
            if any(chk.applies(svc) for svc in services):
                setattr(ConformanceTests, f"test_{chk.name}", _make_test(pytest, conf, chk))
    ConformanceTests.__name__ = ConformanceTests.__qualname__ = "TestConformance"
    return ConformanceTests


def _make_test(pytest: Any, conf: Conformance, chk: Check) -> Callable[..., None]:
    services = [svc for svc in conf.connector.services().values() if chk.applies(svc)]

    def test(self: Any, conformance_session: ConformanceSession, service: str) -> None:
        result = conformance_session.run(chk, conf.connector.service(service))
        if result.status == "skipped":
            pytest.skip(result.outcome.detail)
        if result.status == "failed":
            pytest.fail(result.report(), pytrace=False)

    test.__name__ = f"test_{chk.name}"
    test.__doc__ = chk.title
    return pytest.mark.parametrize("service", [svc.name for svc in services])(test)
