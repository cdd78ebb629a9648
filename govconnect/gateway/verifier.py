"""Checking officers' tokens, and remembering the ones checked (see ``identity`` for what).

A verified token is remembered by its SHA-256 — an LRU of ``CACHE_SIZE`` entries — until the
soonest of its expiry and its issuer's ``max_cache_seconds``, so a consumer forwarding one
officer's session token on every call pays for one signature check. The cache is part of the
revocation window: a token stays believed while its entry lasts. A JWKS fetch that no longer
lists a key drops at once every entry that key verified, so withdrawing a key ends its tokens at
the gateway's next fetch — an unknown ``kid`` or a signature no key of its ``kid`` verifies
causes one (within ``refresh_seconds``), else keys older than ``max_age_seconds`` do — so the
window is at most ``max_age_seconds`` + ``max_cache_seconds`` (docs/authentication.md).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from .._exceptions import ConfigurationError
from .identity import (
    _MAX_CLAIM,
    _MAX_ROLES,
    ALGORITHMS,
    CACHE_SIZE,
    MAX_AUDIENCES,
    IssuerSettings,
    OfficerTokenError,
    VerifiedOfficer,
)
from .jwks import IssuerKeys, SigningKey

__all__ = ["TokenVerifier"]

_WITHDRAWN = 1024  # withdrawn keys remembered (so a check racing the fetch is not cached)


@dataclass(frozen=True, slots=True)
class _Cached:
    officer: VerifiedOfficer
    until: float  # wall-clock time the entry ends
    key: tuple[str, str]  # (issuer, tag of the key that verified it)


def _text(value: Any) -> str | None:
    return value[:_MAX_CLAIM] if isinstance(value, str) and value else None


def _roles(value: Any) -> tuple[str, ...]:
    """A roles claim: a list of strings or one space-separated string (as ``scope``)."""
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list):
        return ()
    return tuple(r[:_MAX_CLAIM] for r in value[:_MAX_ROLES] if isinstance(r, str) and r)


def _clients(claims: dict[str, Any], own: frozenset[str]) -> tuple[tuple[str, ...], str | None]:
    """Every client the token names, and the one it was issued to when that is known.

    ``azp`` (OIDC's authorized party) names it. Without one, an ID token names its client as its
    audience: the ``aud`` values besides the gateway's ``own`` are the clients, and the token
    was issued to one of them only when there is exactly one — a token for several systems is
    no system's. Values are compared whole, never cut (a cut one could equal a declared id).
    """
    aud = claims.get("aud")
    values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if len(values) > MAX_AUDIENCES:
        raise OfficerTokenError(
            "officer.audience",
            f"the token names {len(values)} audiences; at most {MAX_AUDIENCES} are accepted "
            "(the clients it was issued to must all be seen)",
        )
    azp = claims.get("azp")
    if azp is not None:
        if not isinstance(azp, str) or not azp:
            raise OfficerTokenError("officer.malformed", "the token's azp is not a client id")
        return (azp,), azp
    named = tuple(dict.fromkeys(v for v in values if isinstance(v, str) and v and v not in own))
    return named, named[0] if len(named) == 1 else None


class TokenVerifier:
    """Verifies officer tokens against the trusted issuers; thread-safe, with a bounded cache."""

    def __init__(self, issuers: Sequence[IssuerSettings], client_ids: Collection[str] = ()) -> None:
        """``client_ids``: the consumers' declared clients; an issuer's ``audience`` values
        among them name a client (an ID token's audience), the others the gateway itself."""
        try:
            import jwt
        except ImportError:  # pragma: no cover - depends on the installation
            raise ConfigurationError(
                "the gateway file trusts an identity issuer, which needs PyJWT: "
                "pip install 'govconnect[oidc]'"
            ) from None
        self._jwt = jwt
        self.issuers = {s.issuer: s for s in issuers}
        self._own = {s.issuer: frozenset(s.audience) - set(client_ids) for s in issuers}
        self.keys = {s.issuer: IssuerKeys(s, jwt, self._withdraw) for s in issuers}
        self._cache: OrderedDict[bytes, _Cached] = OrderedDict()
        self._withdrawn: dict[tuple[str, str], None] = {}  # insertion-ordered, bounded
        self._cache_lock = threading.Lock()

    def close(self) -> None:
        for keys in self.keys.values():
            keys.close()

    def __len__(self) -> int:
        """Verified tokens remembered now."""
        return len(self._cache)

    def verify(self, token: str) -> VerifiedOfficer:
        """The officer a token names, or :class:`OfficerTokenError` naming the rule broken."""
        ident = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        now = time.time()
        with self._cache_lock:
            hit = self._cache.get(ident)
            if hit is not None:
                if hit.until > now:
                    self._cache.move_to_end(ident)
                    return hit.officer
                del self._cache[ident]
        officer, key = self._verify(token)
        lasts = self.issuers[officer.issuer].max_cache_seconds
        if lasts <= 0:
            return officer
        with self._cache_lock:
            if key in self._withdrawn:  # withdrawn while this token was being checked
                return officer
            self._cache[ident] = _Cached(officer, min(officer.expires, now + lasts), key)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return officer

    def _withdraw(
        self, issuer: str, tags: frozenset[str], listed: frozenset[str] = frozenset()
    ) -> None:
        """A JWKS fetch of ``issuer`` no longer lists the keys ``tags``: forget what they
        verified. The keys it ``listed`` are no longer withdrawn (a withdrawal undone): their
        tokens are remembered again."""
        gone = {(issuer, tag) for tag in tags}
        with self._cache_lock:
            for tag in listed:
                self._withdrawn.pop((issuer, tag), None)
            if not gone:
                return
            for key in gone:
                self._withdrawn[key] = None
            while len(self._withdrawn) > _WITHDRAWN:
                del self._withdrawn[next(iter(self._withdrawn))]
            stale = [ident for ident, entry in self._cache.items() if entry.key in gone]
            for ident in stale:
                del self._cache[ident]

    def _verify(self, token: str) -> tuple[VerifiedOfficer, tuple[str, str]]:
        """The officer, and the (issuer, key tag) that verified the token."""
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
        keys = self.keys[settings.issuer]
        candidates = keys.candidates(kid, alg)
        verified = self._decode(token, alg, settings, candidates)
        if verified is None:  # re-keyed under the same kid? one more look (rate-limited)
            tried = frozenset(k.tag for k in candidates)
            verified = self._decode(token, alg, settings, keys.refetch(kid, alg, tried))
        if verified is None:
            raise OfficerTokenError(
                "officer.signature", "the token's signature does not verify with the issuer's key"
            )
        claims, key = verified
        subject = _text(claims.get("sub"))
        if subject is None:
            raise OfficerTokenError("officer.claim_missing", "the token names no subject (sub)")
        amr = claims.get("amr")
        level = _text(claims.get("acr")) or (
            _text("+".join(m for m in amr if isinstance(m, str))) if isinstance(amr, list) else None
        )
        clients, client = _clients(claims, self._own[settings.issuer])
        officer = VerifiedOfficer(
            issuer=settings.issuer,
            subject=subject,
            expires=float(claims["exp"]),
            token_id=_text(claims.get("jti")),
            level=level,
            department=_text(claims.get(settings.department_claim)),
            roles=_roles(claims.get(settings.roles_claim)),
            clients=clients,
            client=client,
        )
        return officer, (settings.issuer, key.tag)

    def _decode(
        self, token: str, alg: str, settings: IssuerSettings, candidates: Sequence[SigningKey]
    ) -> tuple[dict[str, Any], SigningKey] | None:
        """The claims and the key whose signature they carry; ``None`` when no candidate's
        verifies. A token that some key verifies but whose claims break a rule is refused."""
        jwt = self._jwt
        for key in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key.key,
                    algorithms=[alg],
                    audience=list(settings.audience),
                    issuer=settings.issuer,
                    leeway=settings.leeway_seconds,
                    options={"require": ["exp", "iss", "sub", "aud"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.InvalidTokenError as exc:
                raise _refusal(jwt, exc) from None
            except (jwt.PyJWTError, ValueError, TypeError):  # e.g. a key PyJWT will not use
                continue
            return claims, key
        return None


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
    ]
    for kind, rule, message in table:
        if isinstance(exc, kind):
            if isinstance(exc, jwt.MissingRequiredClaimError):
                message = f"the token lacks the {exc.claim!r} claim"
            return OfficerTokenError(rule, message)
    return OfficerTokenError("officer.malformed", "the token does not decode")
