"""Who may call which service, and what of each record they may see: the gateway's access policy.

The policy is data in a config file (TOML or YAML) that a department's security officer edits::

    [gateway]
    audit_log = ".govconnect/audit.sqlite"
    client_cert_header = "X-Client-Cert-Subject"   # only when a fronting proxy sets it

    [[consumers]]
    department = "11010500001"                      # the consumer's department code
    name = "朝阳区民政局"
    token_hashes = ["sm3:9f2c…"]                    # `govconnect gateway hash-token`, never tokens
    services = ["household.resident"]               # service id, connector.service, code or "*"
    max_level = "sensitive"                         # highest classification it may see
    personal_unmasked = false                       # personal information masked unless true
    purposes = ["最低生活保障审核"]                   # 共享条件 it may state for conditional services

Decisions are mandatory access control as the seeds ask for it: a field above the consumer's level
is removed, personal information is masked unless granted, conditional services need a purpose the
grant lists, not-shared services are never served. Tokens are high-entropy random strings, so a
plain SM3 digest is enough to store them (no slow KDF needed: there is nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .._connector import Service
from .._exceptions import AccessDeniedError, AuthenticationError, ConfigurationError
from .._validation import problems_from_pydantic
from ..catalog.classification import Level
from ..catalog.model import SharingType
from .identity import IssuerSettings
from .masking import Masker, masker_for

__all__ = [
    "Consumer",
    "FieldView",
    "GatewayConfig",
    "GatewaySettings",
    "Policy",
    "ServiceRules",
    "digest",
    "generate_token",
    "hash_token",
    "load_gateway_config",
]

HASH_NAME = "sm3" if "sm3" in hashlib.algorithms_available else "sha256"
_HASH_RE = re.compile(r"^(sm3|sha256):[0-9a-f]{64}$")


# Fresh hash objects are copied from these: ``hashlib.new(name)`` looks the algorithm up in
# OpenSSL on every call, a copy does not (same digest, a few µs less per request).
_PROTOTYPES = {name: hashlib.new(name) for name in {HASH_NAME, "sha256"}}


def new_hash(name: str = HASH_NAME) -> Any:
    """An empty hash object of ``name`` (``sm3`` or ``sha256``)."""
    proto = _PROTOTYPES.get(name)
    return proto.copy() if proto is not None else hashlib.new(name)


def digest(data: bytes | str) -> str:
    """Hex SM3 digest (SHA-256 where the platform's OpenSSL lacks SM3): request hashes, audit
    chain, parameter digests and token hashes all use this one function."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    h = _PROTOTYPES[HASH_NAME].copy()
    h.update(raw)
    return h.hexdigest()


def hash_token(token: str, algorithm: str | None = None) -> str:
    """What the config stores for an API token: ``sm3:<hex>`` (or ``sha256:<hex>``)."""
    alg = algorithm or HASH_NAME
    if alg not in ("sm3", "sha256"):
        raise ConfigurationError(f"unknown token hash algorithm {alg!r}; use sm3 or sha256")
    return f"{alg}:{hashlib.new(alg, token.encode('utf-8')).hexdigest()}"


def generate_token() -> str:
    """A new random API token (256 bits, URL-safe) to hand to a consumer once."""
    return "gct_" + secrets.token_urlsafe(32)


class GatewaySettings(BaseModel):
    """The ``[gateway]`` table: where the audit log lives, paging limits, the proxy header."""

    model_config = ConfigDict(extra="forbid")

    audit_log: str | None = Field(
        default=None,
        description="the audit log: a SQLite file or a postgresql:// URL (default: STATE_DIR/audit.sqlite)",
    )
    default_page_size: int = Field(default=100, ge=1, le=10_000)
    max_page_size: int = Field(default=1000, ge=1, le=100_000)
    client_cert_header: str | None = Field(
        default=None,
        description="header in which a fronting TLS proxy passes the verified client-certificate "
        "subject; leave unset unless the proxy strips it from incoming requests",
    )
    title: str | None = None
    officer_default: Literal["above_internal", "always", "never"] | None = Field(
        default=None,
        description="when a verified officer is required unless a consumer or service says: "
        "above_internal (the default once an issuer is trusted), always, or never (the only "
        "choice, and the default, without [[issuers]])",
    )
    officer_binding: Literal["declared", "required"] = Field(
        default="declared",
        description="binding officers' tokens to the consumer forwarding them: declared (a "
        "consumer's client_ids bind its tokens; a token of a client another consumer declares "
        "is refused everywhere else) or required (every consumer must declare client_ids)",
    )

    @model_validator(mode="after")
    def _page_sizes(self) -> GatewaySettings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("default_page_size cannot exceed max_page_size")
        return self


class Consumer(BaseModel):
    """A department (or one of its systems) allowed to call this gateway, and its grant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    department: str = Field(min_length=1, description="the consumer's department code")
    name: str = Field(min_length=1)
    system: str | None = Field(default=None, description="the consumer's system code, if any")
    token_hashes: tuple[str, ...] = ()
    cert_subjects: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    max_level: Level = Level.PUBLIC
    personal_unmasked: bool = False
    purposes: tuple[str, ...] | dict[str, tuple[str, ...]] = ()
    officer_required: bool | None = Field(
        default=None, description="require a verified officer on every call (default: the rule)"
    )
    officer_departments: tuple[str, ...] | None = Field(
        default=None,
        description="departments a verified officer of this consumer may belong to "
        "(default: the consumer's own; ['*']: any)",
    )
    client_ids: tuple[str, ...] = Field(
        default=(),
        description="the consumer system's client id(s) at the authentication center: its "
        "officers' tokens must be issued to one of them (azp, else aud)",
    )

    @field_validator("token_hashes")
    @classmethod
    def _hashes_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _HASH_RE.match(item):
                raise ValueError(
                    "token_hashes holds hashes like 'sm3:<64 hex>', never tokens; "
                    "produce one with `govconnect gateway hash-token`"
                )
        return value

    @property
    def id(self) -> str:
        """How the audit log and metrics name the consumer: ``DEPT`` or ``DEPT/SYSTEM``."""
        return f"{self.department}/{self.system}" if self.system else self.department


class ServiceRules(BaseModel):
    """A ``[services."REF"]`` table: what a service asks of the officer behind each call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    officer_required: bool | None = None
    roles: tuple[str, ...] = Field(
        default=(), description="the officer must hold one of these roles (implies required)"
    )


class GatewayConfig(BaseModel):
    """The whole gateway file: settings, consumers, trusted identity issuers, per-service rules
    and (optionally) connector settings."""

    model_config = ConfigDict(extra="forbid")

    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    consumers: list[Consumer] = Field(default_factory=list)
    issuers: list[IssuerSettings] = Field(default_factory=list)
    services: dict[str, ServiceRules] = Field(default_factory=dict)
    connectors: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _officers_need_an_issuer(self) -> GatewayConfig:
        """Without a trusted issuer no officer can be verified: a rule requiring one could
        never be met, so it is refused here rather than refusing every call at run time."""
        if len({i.issuer for i in self.issuers}) != len(self.issuers):
            raise ValueError("an issuer is configured twice in [[issuers]]")
        self._client_ids_are_one_consumers()
        if self.issuers:
            return self
        wants = [f"gateway.officer_default = {self.gateway.officer_default!r}"] * (
            self.gateway.officer_default not in (None, "never")
        )
        wants += [f"consumer {c.id}" for c in self.consumers if c.officer_required]
        wants += ["gateway.officer_binding = 'required'"] * (
            self.gateway.officer_binding == "required"
        )
        wants += [
            f"services.{r}" for r, s in self.services.items() if s.officer_required or s.roles
        ]
        if wants:
            raise ValueError(
                f"{', '.join(wants)} require(s) a verified officer, but no [[issuers]] are "
                "trusted to verify one"
            )
        return self

    def _client_ids_are_one_consumers(self) -> None:
        """A client id names one consumer system (a token bound to two binds to neither), and
        ``officer_binding = "required"`` means every consumer declares its own."""
        owner: dict[str, str] = {}
        for consumer in self.consumers:
            for client in consumer.client_ids:
                if owner.setdefault(client, consumer.id) != consumer.id:
                    raise ValueError(
                        f"client id {client!r} is declared by consumers {owner[client]} and "
                        f"{consumer.id}: a client id binds tokens to one consumer"
                    )
        if self.gateway.officer_binding == "required":
            unbound = [c.id for c in self.consumers if not c.client_ids]
            if unbound:
                raise ValueError(
                    f"gateway.officer_binding = 'required', but consumer(s) {', '.join(unbound)} "
                    "declare no client_ids"
                )


def load_gateway_config(source: str | Path | Mapping[str, Any]) -> GatewayConfig:
    """Read and check a gateway file (``.toml``, ``.yaml``/``.yml``) or an in-memory mapping.

    Every problem is reported at once, each naming its place (``consumers.0.max_level``).
    """
    where = "gateway config"
    if isinstance(source, Mapping):
        data: Any = dict(source)
    else:
        path = Path(source)
        where = str(path)
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise ConfigurationError(f"cannot read gateway config {where!r}: {exc}") from None
        try:
            if path.suffix.lower() in (".yaml", ".yml"):
                data = yaml.safe_load(text) or {}
            else:
                data = tomllib.loads(text.decode("utf-8"))
        except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"gateway config {where!r} does not parse: {exc}") from None
    try:
        config = GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_pydantic(exc)
        raise ConfigurationError(
            f"invalid gateway config {where!r}: " + "; ".join(str(p) for p in problems)
        ) from None
    seen: set[str] = set()
    for consumer in config.consumers:
        if consumer.id in seen:
            raise ConfigurationError(f"consumer {consumer.id!r} is configured twice in {where!r}")
        seen.add(consumer.id)
    return config


# --- decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldView:
    """What one consumer sees of one service's records: fields kept, masked and withheld."""

    returned: tuple[str, ...]
    masked: tuple[str, ...]
    withheld: tuple[str, ...]
    _maskers: tuple[tuple[str, Masker], ...]

    def apply(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The record (JSON-ready mapping) with withheld fields removed and personal ones masked."""
        out = {name: record.get(name) for name in self.returned}
        for name, masker in self._maskers:
            out[name] = masker(out[name])
        return out


def field_view(consumer: Consumer, service: Service) -> FieldView:
    """Field-level decision for ``consumer`` on ``service``, from the catalog's information items."""
    returned: list[str] = []
    withheld: list[str] = []
    maskers: list[tuple[str, Masker]] = []
    fields = service.record_model.model_fields
    for item in service.resource.items:
        if item.level > consumer.max_level:
            withheld.append(item.name)
            continue
        returned.append(item.name)
        if item.personal and not consumer.personal_unmasked:
            maskers.append(
                (item.name, masker_for(item.name, item.title, fields[item.name].annotation))
            )
    return FieldView(
        returned=tuple(returned),
        masked=tuple(n for n, _ in maskers),
        withheld=tuple(withheld),
        _maskers=tuple(maskers),
    )


class Policy:
    """The consumers of a gateway, resolved against the services it serves.

    Built once at start-up: a grant naming a service that is not loaded is a configuration error
    (a typo must not silently deny, or worse, be ignored).
    """

    def __init__(self, config: GatewayConfig, services: Sequence[Service]) -> None:
        self.config = config
        self.services = list(services)
        self._by_token: dict[str, Consumer] = {}
        self._by_subject: dict[str, Consumer] = {}
        self._grants: dict[str, frozenset[str]] = {}
        self._views: dict[tuple[str, str], FieldView] = {}
        for consumer in config.consumers:
            for h in consumer.token_hashes:
                self._add_credential(self._by_token, h, consumer, "token hash")
            for subject in consumer.cert_subjects:
                self._add_credential(self._by_subject, subject, consumer, "certificate subject")
            self._grants[consumer.id] = frozenset(self._resolve(consumer))
        self._algorithms = sorted({h.split(":", 1)[0] for h in self._by_token})

    @staticmethod
    def _add_credential(
        table: dict[str, Consumer], key: str, consumer: Consumer, what: str
    ) -> None:
        if key in table and table[key].id != consumer.id:
            raise ConfigurationError(
                f"{what} of consumer {consumer.id!r} is also held by {table[key].id!r}"
            )
        table[key] = consumer

    def _resolve(self, consumer: Consumer) -> Iterable[str]:
        refs = set(consumer.services)
        if isinstance(consumer.purposes, dict):
            refs |= set(consumer.purposes)
        for ref in sorted(refs):
            if ref == "*":
                continue
            matched = [s.id for s in self.services if ref in (s.id, s.qualified_name, s.code)]
            if not matched:
                raise ConfigurationError(
                    f"consumer {consumer.id!r} is granted {ref!r}, which no loaded service is "
                    "(use a service id, connector.service or a resource code)"
                )
            if ref in consumer.services:
                yield from matched
        if "*" in consumer.services:
            yield from (s.id for s in self.services)

    @property
    def consumers(self) -> list[Consumer]:
        return list(self.config.consumers)

    def authenticate(self, authorization: str | None, cert_subject: str | None = None) -> Consumer:
        """The consumer a request's credentials name, or :class:`AuthenticationError`.

        A bearer token wins over a certificate subject; a token nobody holds is refused even when
        the subject is known, so a leaked-then-revoked token never falls through.
        """
        if authorization:
            scheme, _, token = authorization.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise AuthenticationError(
                    "use 'Authorization: Bearer <token>'", rule="credentials.scheme"
                )
            raw = token.encode("utf-8")
            for alg in self._algorithms:
                h = new_hash(alg)
                h.update(raw)
                found = self._by_token.get(f"{alg}:{h.hexdigest()}")
                if found is not None:
                    return found
            raise AuthenticationError("the token is not held by any consumer of this gateway")
        if cert_subject and self.config.gateway.client_cert_header:
            found = self._by_subject.get(cert_subject.strip())
            if found is not None:
                return found
            raise AuthenticationError(
                "the client certificate subject is not a consumer of this gateway"
            )
        raise AuthenticationError(
            "no credentials: send 'Authorization: Bearer <token>'", rule="credentials.missing"
        )

    def may_call(self, consumer: Consumer, service: Service) -> bool:
        """Whether ``service`` appears in the consumer's grant and is shared at all."""
        return (
            service.id in self._grants.get(consumer.id, frozenset())
            and service.resource.sharing.type is not SharingType.NOT_SHARED
        )

    def allowed_purposes(self, consumer: Consumer, service: Service) -> tuple[str, ...]:
        if isinstance(consumer.purposes, dict):
            for ref, purposes in consumer.purposes.items():
                if ref in (service.id, service.qualified_name, service.code):
                    return tuple(purposes)
            return ()
        return tuple(consumer.purposes)

    def authorize(self, consumer: Consumer, service: Service, purpose: str | None) -> None:
        """Raise :class:`AccessDeniedError` with the reason unless the call is allowed."""
        sharing = service.resource.sharing
        if sharing.type is SharingType.NOT_SHARED:
            raise AccessDeniedError(
                f"{service.id} is not shared (不予共享): {sharing.legal_basis or 'by law'}",
                rule="sharing.not_shared",
            )
        if service.id not in self._grants.get(consumer.id, frozenset()):
            raise AccessDeniedError(
                f"consumer {consumer.id} is not granted {service.id}", rule="service.not_granted"
            )
        if sharing.type is SharingType.CONDITIONAL:
            if not purpose:
                raise AccessDeniedError(
                    f"{service.id} is shared on conditions ({sharing.conditions}); "
                    "state the purpose of the call in the 'purpose' parameter",
                    rule="purpose.required",
                    field="purpose",
                )
            if purpose not in self.allowed_purposes(consumer, service):
                raise AccessDeniedError(
                    f"purpose {purpose!r} is not one consumer {consumer.id} may state "
                    f"for {service.id}",
                    rule="purpose.not_allowed",
                    field="purpose",
                )

    def view(self, consumer: Consumer, service: Service) -> FieldView:
        """The consumer's field view of a service (computed once, then cached)."""
        key = (consumer.id, service.id)
        found = self._views.get(key)
        if found is None:
            found = self._views[key] = field_view(consumer, service)
        return found
