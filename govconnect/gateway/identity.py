"""Officers' identity tokens from the region's unified identity authentication center (OIDC, JWT).

The consumer system authenticates itself with its own bearer token; the person at its keyboard —
the handling officer (经办人) — logged in at the authentication center ("一次登录、全网通办") and the
consumer forwards that login's token in ``X-Officer-Token``. Here it is verified, so the audit log
can name a *verified* officer instead of whatever a header claims:

- the signature, against the issuer's JWKS (found through its discovery document, fetched with
  httpx under strict timeouts, a size bound and a wall-clock deadline, cached, refetched when it
  is older than ``max_age_seconds`` and at most once per ``refresh_seconds`` for an unknown
  ``kid``);
- the issuer (one the gateway file trusts), the audience, ``exp`` / ``nbf`` / ``iat`` with a
  small leeway, and the claims every officer token must carry (``sub``, ``exp``, ``aud``);
- the algorithm: asymmetric only (RS/PS/ES), from the gateway file's list *and* matching the
  key's type — ``alg: none`` and HMAC are never accepted, so a token "signed" with an issuer's
  public key as an HMAC secret (algorithm confusion) is refused before any key is looked at.

The JOSE work is PyJWT's (a maintained library; no hand-written crypto). It is an optional extra
(``govconnect[oidc]``), imported only when a gateway file trusts an issuer. SM2 (GM/T 0003 with
SM3) is not offered: no maintained Python JOSE library implements it and JOSE has no registered
algorithm name for it (docs/authentication.md says more).

A verified token is cached by its SHA-256 until it expires (at most ``CACHE_SECONDS``, an LRU of
``CACHE_SIZE`` entries), so a consumer that sends the same officer's token on every call pays the
signature check once. When verification is impossible (the JWKS cannot be fetched and no fresh
enough keys are cached) the call is refused (503): the gateway fails closed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .._exceptions import ConfigurationError, Problem

__all__ = [
    "ALGORITHMS",
    "OFFICER_HEADER",
    "IssuerSettings",
    "OfficerTokenError",
    "TokenVerifier",
    "VerifiedOfficer",
]

log = logging.getLogger("govconnect.gateway")

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
MAX_DOCUMENT_BYTES = 65_536  # a discovery document or JWKS; real ones are a few KiB
MAX_KEYS = 32  # keys read from one JWKS
MIN_RSA_BITS = 2048
CACHE_SIZE = 4096  # verified tokens remembered (by SHA-256), least recently used dropped
CACHE_SECONDS = 300  # a verified token is re-verified at least this often
_MAX_CLAIM = 128  # characters kept of a subject, token id, department, level or role
_MAX_ROLES = 64
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
        default=3600, ge=10, le=86_400, description="refetch keys older than this"
    )
    timeout_seconds: float = Field(default=3.0, gt=0, le=10)

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


class _FetchError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Any  # a ``cryptography`` public key


class _IssuerKeys:
    """One issuer's JWKS: fetched, bounded, cached and refreshed (thread-safe)."""

    def __init__(self, settings: IssuerSettings, jwt: Any) -> None:
        self.settings = settings
        self._jwt = jwt
        self._lock = threading.Lock()
        self._keys: tuple[_Key, ...] = ()
        self._fetched = -math.inf  # monotonic time of the last good fetch
        self._attempted = -math.inf  # ... of the last attempt, good or not
        self._failed = False  # the last attempt failed
        self._jwks_uri = settings.jwks_uri
        loopback = urlsplit(settings.issuer).hostname in _LOOPBACK
        self._client = httpx.Client(
            timeout=httpx.Timeout(
                settings.timeout_seconds, connect=min(2.0, settings.timeout_seconds)
            ),
            follow_redirects=False,
            trust_env=not loopback,  # a test issuer on loopback never goes through a proxy
        )
        self.fetches = 0

    def close(self) -> None:
        self._client.close()

    def key(self, kid: str | None, alg: str) -> Any:
        """The public key for ``kid`` and ``alg``, fetching the JWKS when needed."""
        s = self.settings
        with self._lock:
            now = time.monotonic()
            if now - self._fetched > s.max_age_seconds and now - self._attempted >= min(
                s.refresh_seconds, 5
            ):
                self._refresh(now)
            if not self._keys or now - self._fetched > 2 * s.max_age_seconds:
                raise OfficerTokenError(
                    "officer.issuer_unavailable",
                    "the authentication center's keys cannot be fetched; the token cannot be "
                    "verified now (try again later)",
                    503,
                )
            found = self._find(kid, alg)
            if found is None and now - self._attempted >= s.refresh_seconds:
                self._refresh(now)  # an unknown kid: the issuer may have rotated its keys
                found = self._find(kid, alg)
            failed = self._failed
        if found is not None:
            return found.key
        if failed:
            raise OfficerTokenError(
                "officer.issuer_unavailable",
                "the token's key is not among the cached keys and the authentication center's "
                "keys cannot be fetched now",
                503,
            )
        raise OfficerTokenError(
            "officer.key_unknown",
            f"no key of the issuer matches the token's kid and algorithm {alg}",
        )

    def _find(self, kid: str | None, alg: str) -> _Key | None:
        kty = "EC" if alg.startswith("ES") else "RSA"
        usable = [
            k
            for k in self._keys
            if k.kty == kty
            and (k.alg is None or k.alg == alg)
            and (kty != "EC" or k.crv == _CURVES[alg])
        ]
        if kid is not None:
            return next((k for k in usable if k.kid == kid), None)
        return usable[0] if len(usable) == 1 else None  # no kid: only an unambiguous key

    def _refresh(self, now: float) -> None:
        self._attempted = now
        self.fetches += 1
        try:
            keys = self._fetch_keys()
        except Exception as exc:  # _FetchError, or anything unforeseen: fail closed, no trace
            self._failed = True
            self._jwks_uri = self.settings.jwks_uri  # re-discover next time
            detail = exc if isinstance(exc, _FetchError) else type(exc).__name__
            log.warning("JWKS of %s unavailable: %s", self.settings.issuer, detail)
            return
        self._keys, self._fetched, self._failed = keys, now, False

    def _fetch_keys(self) -> tuple[_Key, ...]:
        deadline = time.monotonic() + 2 * self.settings.timeout_seconds
        if self._jwks_uri is None:
            assert self.settings.discovery_url is not None
            doc = self._get_json(self.settings.discovery_url, deadline)
            if doc.get("issuer") != self.settings.issuer:
                raise _FetchError("the discovery document names another issuer")
            uri = doc.get("jwks_uri")
            if not isinstance(uri, str):
                raise _FetchError("the discovery document has no jwks_uri")
            try:
                self._jwks_uri = _check_url(uri)
            except ValueError as exc:
                raise _FetchError(str(exc)) from None
        jwks = self._get_json(self._jwks_uri, deadline)
        entries = jwks.get("keys")
        if not isinstance(entries, list):
            raise _FetchError("the JWKS has no list of keys")
        keys = [k for k in map(self._parse_key, entries[:MAX_KEYS]) if k is not None]
        if not keys:
            raise _FetchError("the JWKS holds no usable signing key")
        return tuple(keys)

    def _get_json(self, url: str, deadline: float) -> dict[str, Any]:
        body = bytearray()
        try:
            with self._client.stream("GET", url, headers={"Accept": "application/json"}) as r:
                if r.status_code != 200:
                    raise _FetchError(f"{url} answered {r.status_code}")
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise _FetchError(f"{url} sent more than {MAX_DOCUMENT_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise _FetchError(f"{url} is too slow")
        except httpx.HTTPError as exc:
            raise _FetchError(f"{url}: {type(exc).__name__}") from None
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _FetchError(f"{url} did not answer JSON") from None
        if not isinstance(doc, dict):
            raise _FetchError(f"{url} did not answer a JSON object")
        return doc

    def _parse_key(self, jwk: Any) -> _Key | None:
        """A signing key of the JWKS, or ``None`` for one this gateway would never use."""
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            return None
        kty, alg, kid = jwk.get("kty"), jwk.get("alg"), jwk.get("kid")
        if kty not in ("RSA", "EC") or (alg is not None and alg not in ALGORITHMS):
            return None
        if kid is not None and not isinstance(kid, str):
            return None
        try:
            parsed = self._jwt.PyJWK(jwk).key
        except Exception:  # PyJWT raises several kinds for a malformed key: skip it
            return None
        if kty == "RSA" and parsed.key_size < MIN_RSA_BITS:
            return None
        return _Key(kid, kty, jwk.get("crv") if kty == "EC" else None, alg, parsed)


def _text(value: Any) -> str | None:
    return value[:_MAX_CLAIM] if isinstance(value, str) and value else None


def _roles(value: Any) -> tuple[str, ...]:
    """A roles claim: a list of strings or one space-separated string (as ``scope``)."""
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list):
        return ()
    return tuple(r[:_MAX_CLAIM] for r in value[:_MAX_ROLES] if isinstance(r, str) and r)


class TokenVerifier:
    """Verifies officer tokens against the trusted issuers; thread-safe, with a bounded cache."""

    def __init__(self, issuers: Sequence[IssuerSettings]) -> None:
        try:
            import jwt
        except ImportError:  # pragma: no cover - depends on the installation
            raise ConfigurationError(
                "the gateway file trusts an identity issuer, which needs PyJWT: "
                "pip install 'govconnect[oidc]'"
            ) from None
        self._jwt = jwt
        self.issuers = {s.issuer: s for s in issuers}
        self.keys = {s.issuer: _IssuerKeys(s, jwt) for s in issuers}
        self._cache: OrderedDict[bytes, VerifiedOfficer] = OrderedDict()
        self._cache_until: dict[bytes, float] = {}
        self._cache_lock = threading.Lock()

    def close(self) -> None:
        for keys in self.keys.values():
            keys.close()

    def verify(self, token: str) -> VerifiedOfficer:
        """The officer a token names, or :class:`OfficerTokenError` naming the rule broken."""
        ident = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        now = time.time()
        with self._cache_lock:
            hit = self._cache.get(ident)
            if hit is not None:
                if self._cache_until[ident] > now:
                    self._cache.move_to_end(ident)
                    return hit
                del self._cache[ident], self._cache_until[ident]
        officer = self._verify(token)
        with self._cache_lock:
            self._cache[ident] = officer
            self._cache_until[ident] = min(officer.expires, now + CACHE_SECONDS)
            while len(self._cache) > CACHE_SIZE:
                old, _ = self._cache.popitem(last=False)
                del self._cache_until[old]
        return officer

    def _verify(self, token: str) -> VerifiedOfficer:
        jwt = self._jwt
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise OfficerTokenError(
                "officer.malformed", "not a signed JWT (header.payload.signature, base64url)"
            ) from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in ALGORITHMS:
            shown = alg[:16] if isinstance(alg, str) else alg
            raise OfficerTokenError(
                "officer.algorithm",
                f"algorithm {shown!r} is not accepted (asymmetric signatures only: "
                "RS, PS or ES; never 'none' or HMAC)",
            )
        if kid is not None and not isinstance(kid, str):
            raise OfficerTokenError("officer.malformed", "the token's kid is not a string")
        iss = unverified.get("iss")
        settings = self.issuers.get(iss) if isinstance(iss, str) else None
        if settings is None:
            raise OfficerTokenError(
                "officer.issuer", "the token was not issued by an issuer this gateway trusts"
            )
        if alg not in settings.algorithms:
            raise OfficerTokenError(
                "officer.algorithm",
                f"algorithm {alg} is not one this gateway accepts from {settings.issuer}",
            )
        key = self.keys[settings.issuer].key(kid, alg)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=list(settings.audience),
                issuer=settings.issuer,
                leeway=settings.leeway_seconds,
                options={"require": ["exp", "iss", "sub", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise _refusal(jwt, exc) from None
        except (jwt.PyJWTError, ValueError, TypeError):  # e.g. a key PyJWT will not use
            raise OfficerTokenError(
                "officer.signature", "the token cannot be verified with the issuer's key"
            ) from None
        subject = _text(claims.get("sub"))
        if subject is None:
            raise OfficerTokenError("officer.claim_missing", "the token names no subject (sub)")
        amr = claims.get("amr")
        level = _text(claims.get("acr")) or (
            _text("+".join(m for m in amr if isinstance(m, str))) if isinstance(amr, list) else None
        )
        return VerifiedOfficer(
            issuer=settings.issuer,
            subject=subject,
            expires=float(claims["exp"]),
            token_id=_text(claims.get("jti")),
            level=level,
            department=_text(claims.get(settings.department_claim)),
            roles=_roles(claims.get(settings.roles_claim)),
        )


def _refusal(jwt: Any, exc: Exception) -> OfficerTokenError:
    """PyJWT's verdict as the rule the gateway documents (the most specific first)."""
    table: list[tuple[type[Exception], str, str]] = [
        (jwt.ExpiredSignatureError, "officer.expired", "the token has expired"),
        (jwt.ImmatureSignatureError, "officer.not_yet_valid", "the token is not valid yet (nbf)"),
        (jwt.InvalidIssuedAtError, "officer.not_yet_valid", "the token was issued in the future"),
        (jwt.InvalidAudienceError, "officer.audience", "the token is not meant for this gateway"),
        (jwt.InvalidIssuerError, "officer.issuer", "the token's issuer is not trusted"),
        (jwt.MissingRequiredClaimError, "officer.claim_missing", "the token lacks a claim"),
        (jwt.InvalidAlgorithmError, "officer.algorithm", "the token's algorithm is not accepted"),
        (jwt.InvalidSignatureError, "officer.signature", "the token's signature does not verify"),
    ]
    for kind, rule, message in table:
        if isinstance(exc, kind):
            if isinstance(exc, jwt.MissingRequiredClaimError):
                message = f"the token lacks the {exc.claim!r} claim"
            return OfficerTokenError(rule, message)
    return OfficerTokenError("officer.malformed", "the token does not decode")
