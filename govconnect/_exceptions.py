"""The one exception tree of govconnect.

Every error the SDK raises derives from :class:`GovConnectError`. The branches say what the caller
should do about it::

    GovConnectError
    ├── ConfigurationError          fix the setup (config file, plugin, connector declaration)
    │   ├── PluginError             a plugin failed to import or to register (reported, others load)
    │   ├── NotConfiguredError      a connector is installed but nothing configures it (skipped)
    │   ├── OneTransactionRefused   a sink asked for one transaction with the outbox it cannot have
    │   ├── KeyOutsideRangeError    a partitioned dataset read a key outside its range (collation)
    │   └── ServiceDefinitionError  a connector declares an invalid service or record field
    ├── InvalidInputError           the data is wrong; carries ``problems`` naming field and rule
    │   ├── IdentityError           a citizen ID / credit code failed a rule (also a ``ValueError``)
    │   ├── CatalogValidationError  a catalog breaks the resource-catalog rules (all of them at once)
    │   └── PublishAbortedError     too many records of a dataset were rejected; nothing more sent
    ├── ExchangeError               talking to the exchange platform failed
    │   ├── RetryableError          transient (connect error, timeout, 429, 5xx): try again later
    │   ├── PlatformRejectedError   the platform refused the request (4xx): do not retry
    │   └── UnexpectedResponseError the answer breaks the contract (3xx, not JSON, wrong shape,
    │                               too large): do not retry, fix the URL or ask the platform
    ├── DiscoveryError              a legacy database could not be discovered (unreachable, refused)
    ├── LegacySystemError           a legacy system refused a call for a reason retrying cannot fix
    │   └── SoapFaultError          a SOAP Fault: ``code`` and ``string`` as the legacy system sent them
    ├── ConnectorError              a connector or its driver raised: names connector, service, class
    ├── AccessDeniedError           the caller is not entitled to this (gateway 403): ask for a grant
    │   └── AuthenticationError     the caller is not a known consumer (gateway 401): fix credentials
    ├── PublishRunningError         another publish of the dataset holds its run lock: try later
    └── AuditIntegrityError         the audit log's hash chain is broken: investigate, never repair

Low-level errors (httpx, SQLAlchemy, OSError) are translated at the boundary with ``raise … from exc``
so callers handle one tree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AccessDeniedError",
    "AuditIntegrityError",
    "AuthenticationError",
    "CatalogValidationError",
    "ConfigurationError",
    "ConnectorError",
    "DiscoveryError",
    "ExchangeError",
    "GovConnectError",
    "IdentityError",
    "InvalidInputError",
    "KeyOutsideRangeError",
    "LegacySystemError",
    "NotConfiguredError",
    "OneTransactionRefused",
    "PlatformRejectedError",
    "PluginError",
    "Problem",
    "PublishAbortedError",
    "PublishRunningError",
    "RetryableError",
    "ServiceDefinitionError",
    "SoapFaultError",
    "UnexpectedResponseError",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: *where* (a dotted field path), *which rule*, and a sentence for humans.

    Problems are the unit of every "bad input" report in govconnect: catalog validation, intake
    mapping, platform 4xx bodies and gateway 422 bodies all carry lists of them.
    """

    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.rule}]"

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "message": self.message}


class GovConnectError(Exception):
    """Root of every error govconnect raises."""


class ConfigurationError(GovConnectError):
    """The setup is wrong: a config value, a plugin, a connector declaration. Fix it and rerun."""


class PluginError(ConfigurationError):
    """A plugin could not be loaded or registered.

    The plugin manager records these instead of raising them, so one broken plugin never stops the
    others from loading; ``govconnect plugins`` lists them.
    """

    def __init__(self, plugin: str, reason: str) -> None:
        super().__init__(f"plugin {plugin!r}: {reason}")
        self.plugin = plugin
        self.reason = reason


class NotConfiguredError(ConfigurationError):
    """A connector is installed but neither the config file nor the environment configures it.

    Its defaults point at a legacy system nobody set up, so running it would fail (or, worse,
    create an empty SQLite file where a database should be): it is reported and skipped instead.
    """

    def __init__(self, connector: str, settings: Sequence[str] = ()) -> None:
        self.connector = connector
        hint = f"GOVCONNECT_{connector.upper()}_<SETTING>"
        if settings:
            hint = " or ".join(f"GOVCONNECT_{connector.upper()}_{s.upper()}" for s in settings[:2])
        super().__init__(
            f"connector {connector!r} is installed but not configured: add a "
            f"[connectors.{connector}] section to govconnect.toml or set {hint}"
        )


class ServiceDefinitionError(ConfigurationError):
    """A connector declares an invalid service; the message names connector, service and field."""

    def __init__(self, connector: str, problems: Sequence[Problem]) -> None:
        self.connector = connector
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"connector {connector!r} declares invalid services:\n{lines}")


class OneTransactionRefused(ConfigurationError):
    """``DatabaseSink(transactional=True)`` where the case and its status cannot commit in one
    transaction (the outbox is not in the legacy database, or its role lacks a grant): the intake
    run refuses to start rather than fall back to two stores."""


class KeyOutsideRangeError(ConfigurationError):
    """A worker's source returned a key outside its range (as Python orders keys): the
    database collates keys otherwise, or the dataset ignores ``key_from``/``key_to``. The
    coordinator then queues no tombstones at all, since which range holds a key is unsure."""


class InvalidInputError(GovConnectError):
    """Data broke one or more rules. ``problems`` names each field and rule."""

    def __init__(self, problems: Iterable[Problem], summary: str | None = None) -> None:
        self.problems = list(problems)
        head = summary or f"{len(self.problems)} problem(s)"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head}:\n{lines}" if lines else head)


class IdentityError(InvalidInputError, ValueError):
    """A citizen ID number or unified social credit code failed one of its rules.

    Also a ``ValueError`` so that pydantic reports it as an ordinary validation error of the field
    that carries the identity type.
    """

    def __init__(self, kind: str, rule: str, message: str) -> None:
        self.kind = kind
        self.rule = rule
        super().__init__([Problem(kind, rule, message)], summary=f"invalid {kind}: {message}")

    def __str__(self) -> str:
        return f"invalid {self.kind}: {self.problems[0].message} [{self.rule}]"


class CatalogValidationError(InvalidInputError):
    """A catalog breaks resource-catalog rules; every problem of the catalog is listed at once."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        problems = list(problems)
        super().__init__(problems, summary=f"catalog has {len(problems)} problem(s)")


class PublishAbortedError(InvalidInputError):
    """A dataset's reject rate passed the configured threshold, so publishing stopped.

    A broken legacy export must not flood the platform: the batches before the one that crossed
    the threshold are in the outbox (they were valid), the bookmark stands after them, and the
    rejects file names every bad record.
    """


class ExchangeError(GovConnectError):
    """A call to the exchange platform failed."""


class RetryableError(ExchangeError):
    """A transient failure that may succeed later: connect error, timeout, 429, 5xx.

    ``retry_after`` carries the platform's ``Retry-After`` in seconds when it sent one.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class PlatformRejectedError(ExchangeError):
    """The platform refused the request (4xx). Retrying the same request cannot succeed.

    ``problems`` carries the platform's machine-readable reasons, each naming a field.
    """

    def __init__(self, status: int, message: str, problems: Sequence[Problem] = ()) -> None:
        self.status = status
        self.problems = list(problems)
        detail = "; ".join(str(p) for p in self.problems)
        super().__init__(
            f"platform refused ({status}): {message}" + (f" — {detail}" if detail else "")
        )


class UnexpectedResponseError(ExchangeError):
    """The platform answered, but not as the contract says: retrying the same call cannot help.

    ``reason`` is machine-readable: ``redirect`` (a 3xx: the contract has none, so the base URL is
    wrong or a proxy intercepts; following it would hand the token to another origin),
    ``not_json`` or ``shape`` (a 2xx whose body is not the documented JSON), ``too_large`` (the
    decoded body passed the client's ``max_response_bytes``, a gzip bomb included) or
    ``encoding`` (a ``Content-Encoding`` the client does not decode). None of these is transient:
    the same request gets the same answer, so the delivery worker dead-letters the batch (its
    idempotency key kept, so a replay after the fix cannot apply it twice).
    """

    def __init__(self, message: str, *, reason: str, status: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class DiscoveryError(GovConnectError):
    """A legacy database could not be discovered at all: unreachable, credentials refused, no such
    schema or file. The message never carries the password. (A single table that fails — missing,
    permission denied, timed out — is reported in the discovery report instead, and the other
    tables are still discovered.)"""


class LegacySystemError(GovConnectError):
    """A legacy system refused a call (a SOAP Fault, a 4xx): retrying the same call cannot help.

    ``system`` names the legacy system or endpoint and ``operation`` the call, so the message says
    what failed and where; ``status`` is the HTTP status when there was one. Transient trouble (timeouts, 5xx) is a :class:`RetryableError` instead.
    """

    def __init__(
        self, message: str, *, system: str = "", operation: str = "", status: int | None = None
    ) -> None:
        where = " ".join(part for part in (system, operation) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.system = system
        self.operation = operation
        self.status = status


class SoapFaultError(LegacySystemError):
    """The legacy WebService answered a SOAP Fault.

    ``code`` is the fault code as sent (``soap:Client``, ``soap:Server``, ``wsse:FailedAuthentication``
    or a vendor's own), ``string`` the fault string, ``detail`` the text of ``<detail>`` (bounded).
    """

    def __init__(
        self, code: str, string: str, *, system: str = "", operation: str = "", detail: str = ""
    ) -> None:
        super().__init__(f"SOAP Fault {code}: {string}", system=system, operation=operation)
        self.code = code
        self.string = string
        self.detail = detail

    @property
    def code_name(self) -> str:
        """The fault code without its namespace prefix: ``Client``, ``Server``, ``Sender``…"""
        return self.code.rsplit(":", 1)[-1].rsplit("}", 1)[-1]


class ConnectorError(GovConnectError):
    """A connector's own code, or the driver under it, raised something that is not ours.

    The message names connector, service (or what was being done) and the exception's class,
    never its text: driver messages carry connection URLs (with passwords), SQL and its
    parameters (citizen IDs). The original stays as ``__cause__`` for ``-v`` and for logs.
    """

    def __init__(self, connector: str, service: str, cause: BaseException) -> None:
        self.connector = connector
        self.service = service
        self.cause_class = describe_cause(cause)
        super().__init__(f"{connector}.{service} failed in the legacy system: {self.cause_class}")


def describe_cause(exc: BaseException) -> str:
    """``module.Class`` of an exception, plus the driver's own class when it wraps one
    (SQLAlchemy keeps the DBAPI error as ``orig``): the class says what failed, the text may not
    be shown."""

    def name(e: BaseException) -> str:
        cls = type(e)
        return (
            cls.__qualname__
            if cls.__module__ == "builtins"
            else f"{cls.__module__}.{cls.__qualname__}"
        )

    orig = getattr(exc, "orig", None)
    if isinstance(orig, BaseException):
        return f"{name(exc)} ({name(orig)})"
    return name(exc)


class AccessDeniedError(GovConnectError):
    """A known consumer asked for something its grant does not cover (the gateway answers 403).

    ``rule`` is machine-readable (``service.not_granted``, ``sharing.not_shared``,
    ``purpose.required``, ``purpose.not_allowed``); ``field`` names the request part at fault.
    """

    status = 403

    def __init__(self, reason: str, *, rule: str, field: str = "service") -> None:
        super().__init__(reason)
        self.reason = reason
        self.rule = rule
        self.field = field

    @property
    def problems(self) -> list[Problem]:
        return [Problem(self.field, self.rule, self.reason)]


class AuthenticationError(AccessDeniedError):
    """The request carries no credential, or one no configured consumer holds (401)."""

    status = 401

    def __init__(self, reason: str, *, rule: str = "credentials.unknown") -> None:
        super().__init__(reason, rule=rule, field="Authorization")


class PublishRunningError(GovConnectError):
    """Another publication of the same dataset holds its run lock (two runs at once could move
    one range's bookmark past records the other has not read): this one did not start."""


class AuditIntegrityError(GovConnectError):
    """The audit log's hash chain does not verify: a record was altered, deleted or reordered.

    ``seq`` is the first record at fault (or where the gap begins), ``kind`` one of ``altered``,
    ``deleted``, ``reordered``, ``truncated``. Keep the file as evidence; do not rewrite it.
    """

    def __init__(self, seq: int, kind: str, message: str) -> None:
        super().__init__(f"audit record {seq} {kind}: {message}")
        self.seq = seq
        self.kind = kind
        self.detail = message
