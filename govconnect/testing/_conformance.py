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

Each check is one function registered with :func:`check` (the standard ones are in
``_checks.py``); a check that needs a piece of the SDK that lands later (intake mappings, the
exchange round trip with the mock platform) is added the same way, as one more function, and every
plugin's test file picks it up without an edit.
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

from pydantic import BaseModel

from .._connector import Connector, Service
from .._exceptions import GovConnectError, InvalidInputError, Problem, ServiceDefinitionError
from .._registry import Registry, load_registry
from .._validation import validate_model
from ..cases.handlers import IntakeHandler

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
    a service whose parameters are all optional may be left out. ``sample_cases`` maps the matter
    code (事项编码) of each intake handler to a case as the one window sends it (JSON object). ``legacy`` builds the sample legacy
    system (see :data:`LegacyFactory`); the settings it gives override ``settings``, which alone
    (or else the connector's defaults and environment) reach the legacy system without one.
    """

    connector: type[Connector]
    sample_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    legacy: LegacyFactory | None = None
    settings: Mapping[str, Any] | None = None
    sample_cases: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

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


Target = Service | IntakeHandler
"""What a check looks at: one service, or one intake handler."""


def target_name(target: Target) -> str:
    """The short name of a target in test ids: the service name or the handler's method."""
    return target.name if isinstance(target, Service) else target.method


def target_label(target: Target) -> str:
    """``connector.service`` or ``connector.handler``, as reports show it."""
    return f"{target.connector.name}.{target_name(target)}"


def is_dataset(target: Target) -> bool:
    """``applies=`` of the checks that only look at datasets."""
    return isinstance(target, Service) and target.kind == "dataset"


@dataclass(frozen=True)
class Check:
    """A standard check: a name for reports and test ids, a sentence, and the function to run.

    ``over`` says what it looks at: each service (``"services"``) or each intake handler
    (``"intake"``); ``applies`` narrows that further (e.g. to datasets).
    """

    name: str
    title: str
    run: Callable[[ConformanceSession, Any], Outcome]
    applies: Callable[[Any], bool]
    over: Literal["services", "intake"] = "services"
    order: int = 100

    def targets(self, connector: type[Connector]) -> list[Target]:
        """The services or intake handlers of ``connector`` this check looks at."""
        found: list[Target] = list(
            connector.services().values()
            if self.over == "services"
            else connector.intake_handlers().values()
        )
        return [t for t in found if self.applies(t)]


CHECKS: list[Check] = []
"""Every standard check, in the order reports show them."""


def check(
    name: str,
    title: str,
    *,
    over: Literal["services", "intake"] = "services",
    applies: Callable[[Any], bool] = lambda target: True,
    order: int = 100,
) -> Callable[[Callable[[ConformanceSession, Any], Outcome]], Check]:
    """Register a standard check over services or intake handlers; ``applies`` narrows it.

    Reports list checks by ``order`` (the built-in ones use 10-80), then by registration.
    """

    def register(fn: Callable[[ConformanceSession, Any], Outcome]) -> Check:
        registered = Check(name=name, title=title, run=fn, applies=applies, over=over, order=order)
        others = [c for c in CHECKS if c.name != name]
        CHECKS[:] = sorted([*others, registered], key=lambda c: c.order)
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
        self._registry: Registry | None = None
        self.settings: dict[str, Any] | None = None
        self.cache: dict[Any, Any] = {}
        """Scratch space for checks that share work (a mapped sample case, a mock platform)."""

    def __enter__(self) -> ConformanceSession:
        settings: dict[str, Any] | None = (
            dict(self.spec.settings) if self.spec.settings is not None else None
        )
        try:
            if self.spec.legacy is not None:
                legacy = self._stack.enter_context(_as_context(self.spec.legacy, self.workdir))
                settings = {**(settings or {}), **dict(legacy or {})}
            self.settings = settings
            self._connector = self.spec.connector(settings)
            self._stack.callback(self._connector.close)
        except Exception as exc:
            self._connector_error = f"{type(exc).__name__}: {exc}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def on_exit(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` when the session ends (stop a server a check started)."""
        self._stack.callback(callback)

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

    def registry(self) -> Registry:
        """Installed plugins' code tables and transforms, as the intake bridge would see them."""
        if self._registry is None:
            self._registry = load_registry(config={})
        return self._registry

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

    def service_call(self, svc: Service) -> tuple[Connector, BaseModel] | Outcome:
        """The connector and the validated sample parameters to call ``svc`` with, or the failure."""
        instance = self.connector()
        if isinstance(instance, Outcome):
            return instance
        params = self.sample_params(svc)
        if isinstance(params, Outcome):
            return params
        return instance, params

    def _read(self, svc: Service) -> list[BaseModel] | Outcome:
        call = self.service_call(svc)
        if isinstance(call, Outcome):
            return call
        instance, params = call
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

    def run(self, chk: Check, target: Target) -> CheckResult:
        label = target_label(target)
        try:
            outcome = chk.run(self, target)
        except Exception as exc:
            outcome = failed(Problem(label, f"conformance.{chk.name}", f"check crashed: {exc!r}"))
        return CheckResult(chk.name, chk.title, label, outcome)


def _as_context(factory: LegacyFactory, workdir: Path) -> contextlib.AbstractContextManager[Any]:
    """Accept a plain function, a generator function or a context-manager factory."""
    if inspect.isgeneratorfunction(factory):
        return contextlib.contextmanager(factory)(workdir)
    produced = factory(workdir)
    if isinstance(produced, contextlib.AbstractContextManager):
        return produced
    return contextlib.nullcontext(produced)


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
        return [session.run(chk, t) for chk in CHECKS for t in chk.targets(spec.connector)]


def conformance_tests(spec: Conformance | type[Connector], **options: Any) -> type:
    """A pytest test class with one test per standard check, parametrised by the services (or
    intake handlers) the check applies to; a check that applies to none, e.g. ``dataset_streams``
    of a connector without datasets, gets no test.

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
        for chk in CHECKS:
            if chk.targets(conf.connector):
                setattr(ConformanceTests, f"test_{chk.name}", _make_test(pytest, conf, chk))
    ConformanceTests.__name__ = ConformanceTests.__qualname__ = "TestConformance"
    return ConformanceTests


def _make_test(pytest: Any, conf: Conformance, chk: Check) -> Callable[..., None]:
    targets = {target_name(t): t for t in chk.targets(conf.connector)}

    def test(self: Any, conformance_session: ConformanceSession, target: str) -> None:
        result = conformance_session.run(chk, targets[target])
        if result.status == "skipped":
            pytest.skip(result.outcome.detail)
        if result.status == "failed":
            pytest.fail(result.report(), pytrace=False)

    test.__name__ = f"test_{chk.name}"
    test.__doc__ = chk.title
    return pytest.mark.parametrize("target", list(targets))(test)


# The standard checks register themselves with @check when their modules are imported.
from . import _checks, _checks_exchange, _checks_intake  # noqa: E402, F401
