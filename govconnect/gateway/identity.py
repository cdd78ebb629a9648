"""Officers' identity tokens from the region's unified identity authentication center (OIDC, JWT).

The consumer system authenticates itself with its own bearer token; the person at its keyboard —
the handling officer (经办人) — logged in at the authentication center ("一次登录、全网通办") and the
consumer forwards that login's token in ``X-Officer-Token``. Here it is verified, so the audit log
can name a *verified* officer instead of whatever a header claims:

- the signature, against the issuer's JWKS (found through its discovery document, fetched with
  httpx under strict timeouts, a size bound and a wall-clock deadline, cached, refetched when it
  is older than ``max_age_seconds`` and at most once per ``refresh_seconds`` for an unknown
  ``kid`` or a signature no key of its ``kid`` verifies);
- the issuer (one the gateway file trusts), the audience, ``exp`` / ``nbf`` / ``iat`` with a
  small leeway, and the claims every officer token must carry (``sub``, ``exp``, ``aud``);
- the algorithm: asymmetric only (RS/PS/ES), from the gateway file's list *and* matching the
  key's type — ``alg: none`` and HMAC are never accepted, so a token "signed" with an issuer's
  public key as an HMAC secret (algorithm confusion) is refused before any key is looked at.

The claims are read here, the keys fetched in ``jwks`` and the tokens checked (and cached) in
``verifier``; this module holds what they share: the gateway file's ``[[issuers]]`` table, the
refusal and the verified officer.

The JOSE work is PyJWT's (a maintained library; no hand-written crypto). It is an optional extra
(``govconnect[oidc]``), imported only when a gateway file trusts an issuer. SM2 (GM/T 0003 with
SM3) is not offered: no maintained Python JOSE library implements it and JOSE has no registered
algorithm name for it (docs/authentication.md says more).

A verified token is cached by its SHA-256 until it expires, at most ``max_cache_seconds`` (an
LRU of ``CACHE_SIZE`` entries), so a consumer that sends the same officer's token on every call
pays the signature check once; a key the issuer withdraws from its JWKS drops the tokens it
verified from the cache at the next fetch. When verification is impossible (the JWKS cannot be
fetched and no fresh enough keys are cached) the call is refused (503): the gateway fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._exceptions import Problem

__all__ = [
    "ALGORITHMS",
    "OFFICER_HEADER",
    "IssuerSettings",
    "OfficerTokenError",
    "VerifiedOfficer",
]

#: The header a consumer forwards its officer's token in (the consumer's own ``Authorization``
#: stays its own: HTTP has one ``Authorization`` field, and two credentials in it would be
#: ambiguous to every proxy in between).
OFFICER_HEADER = "X-Officer-Token"
#: Asymmetric JWS algorithms a gateway file may trust. Never ``none``, never HMAC (``HS*``): an
#: HMAC key would be a secret shared with every gateway, and accepting HMAC is what algorithm
#: confusion exploits.
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
CACHE_SIZE = 4096  # verified tokens remembered (by SHA-256), least recently used dropped
#: How long a verified token is believed without checking it again, by default: with
#: ``max_age_seconds``, it bounds how long a withdrawn key's tokens keep working (the revocation
#: window, docs/authentication.md).
DEFAULT_CACHE_SECONDS = 60
_MAX_CLAIM = 128  # characters kept of a subject, token id, department, level or role
_MAX_ROLES = 64
#: ``aud`` values a token may name: more is refused (``officer.audience``) rather than cut, which
#: could hide a client another consumer declares.
MAX_AUDIENCES = 64
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _check_url(url: str) -> str:
    """HTTPS, or HTTP on loopback only (a mock center in tests): keys fetched over plain HTTP
    from another host could be anyone's."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise ValueError(f"{url!r}: use https:// (http:// only for a loopback test issuer)")


class IssuerSettings(BaseModel):
    """One ``[[issuers]]`` table of the gateway file: an authentication center this gateway
    trusts, and how to read its tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1, description="the `iss` its tokens carry, exactly")
    audience: tuple[str, ...] = Field(
        min_length=1, description="accepted `aud` values (the token must name one of them)"
    )
    discovery_url: str | None = Field(
        default=None, description="default: ISSUER/.well-known/openid-configuration"
    )
    jwks_uri: str | None = Field(default=None, description="skip discovery and fetch this JWKS")
    algorithms: tuple[str, ...] = ("RS256", "ES256")
    department_claim: str = Field(default="department", min_length=1)
    roles_claim: str = Field(default="roles", min_length=1)
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    refresh_seconds: int = Field(
        default=60, ge=1, le=3600, description="at most one JWKS fetch per this many seconds"
    )
    max_age_seconds: int = Field(
        default=900,
        ge=10,
        le=86_400,
        description="refetch keys older than this: with max_cache_seconds, bounds how long a "
        "withdrawn key's tokens keep working when nothing new signals the withdrawal",
    )
    timeout_seconds: float = Field(default=3.0, gt=0, le=10)
    max_cache_seconds: int = Field(
        default=DEFAULT_CACHE_SECONDS,
        ge=0,
        le=300,
        description="believe a verified token this long before verifying it again (0: every "
        "call); bounds how long a token outlives a withdrawn key",
    )

    @field_validator("issuer", "discovery_url", "jwks_uri")
    @classmethod
    def _urls(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in value if a not in ALGORITHMS]
        if bad or not value:
            raise ValueError(
                f"{bad or 'none'} not accepted: choose from {sorted(ALGORITHMS)} "
                "(never 'none' or HMAC; SM2 is not available, see docs/authentication.md)"
            )
        return value

    @model_validator(mode="after")
    def _discovery(self) -> IssuerSettings:
        if self.discovery_url is None and self.jwks_uri is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            object.__setattr__(self, "discovery_url", url)
        return self


class OfficerTokenError(Exception):
    """An officer token refused (401), or one that cannot be verified now (503); ``rule`` names
    the rule (``officer.expired``, ``officer.issuer_unavailable``…)."""

    def __init__(self, rule: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.rule, self.message, self.status = rule, message, status

    @property
    def error(self) -> str:
        return "identity_unavailable" if self.status == 503 else "unauthenticated"

    @property
    def problems(self) -> list[Problem]:
        return [Problem(OFFICER_HEADER, self.rule, self.message)]


@dataclass(frozen=True, slots=True)
class VerifiedOfficer:
    """What a verified token says about its officer (never the token itself)."""

    issuer: str
    subject: str
    expires: float
    token_id: str | None = None
    level: str | None = None  # ``acr``, else ``amr`` joined: how the officer logged in
    department: str | None = None
    roles: tuple[str, ...] = ()
    #: Every client the token names: its ``azp``, else its ``aud`` values besides the gateway's
    #: own (a consumer without ``client_ids`` takes no token naming another consumer's client).
    clients: tuple[str, ...] = ()
    #: The client the token was issued to, when that is known: ``azp``, else the one ``aud``
    #: value besides the gateway's own (``None`` with none or several: a consumer that declares
    #: ``client_ids`` only forwards tokens issued to one of them).
    client: str | None = None
