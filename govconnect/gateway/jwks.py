"""One trusted issuer's signing keys: its JWKS, fetched, bounded, cached and refreshed.

The keys are found through the issuer's discovery document (or a configured ``jwks_uri``) and
fetched with httpx under strict timeouts, a size bound and a wall-clock deadline; they are
refetched when older than ``max_age_seconds`` and at most once per ``refresh_seconds`` for an
unknown ``kid`` or a signature no key of its ``kid`` verifies (a center may re-key under an old
``kid``; a flood of made-up ``kid``s or forged signatures cannot make the gateway hammer the
center). When a refetch no longer lists a key, whoever verified tokens with it is told
(``on_fetched``), so a withdrawn key stops vouching for cached tokens at once rather than when
their cache entry ends — and of the keys it lists, so a key listed again vouches again.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from .identity import (
    _CURVES,
    _LOOPBACK,
    ALGORITHMS,
    IssuerSettings,
    OfficerTokenError,
    _check_url,
)

__all__ = ["MAX_DOCUMENT_BYTES", "MAX_KEYS", "MIN_RSA_BITS", "IssuerKeys", "SigningKey"]

log = logging.getLogger("govconnect.gateway")

MAX_DOCUMENT_BYTES = 65_536  # a discovery document or JWKS; real ones are a few KiB
MAX_KEYS = 32  # keys read from one JWKS
MIN_RSA_BITS = 2048
#: The public members of a JWK that identify its key (RFC 7638's thumbprint members).
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


class _FetchError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One usable key of the JWKS; ``tag`` tells it apart from every other key (its ``kid`` and
    a thumbprint of its public members: a new key published under an old ``kid`` is another)."""

    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    key: Any  # a ``cryptography`` public key
    tag: str


def _thumbprint(jwk: dict[str, Any], kty: str) -> str:
    members = {m: jwk.get(m) for m in _THUMBPRINT_MEMBERS[kty]}
    return hashlib.sha256(orjson.dumps(members, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


class IssuerKeys:
    """One issuer's JWKS: fetched, bounded, cached and refreshed (thread-safe)."""

    def __init__(
        self,
        settings: IssuerSettings,
        jwt: Any,
        on_fetched: Callable[[str, frozenset[str], frozenset[str]], None] | None = None,
    ) -> None:
        self.settings = settings
        #: told after each good fetch: (issuer, tags of keys it no longer lists, tags it lists)
        self._on_fetched = on_fetched
        self._jwt = jwt
        self._lock = threading.Lock()
        self._keys: tuple[SigningKey, ...] = ()
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

    def candidates(self, kid: str | None, alg: str) -> tuple[SigningKey, ...]:
        """The keys that may have signed a token of ``kid`` and ``alg`` (every key listed under
        that ``kid``: a center may publish several), fetching the JWKS when needed."""
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
            if not found and now - self._attempted >= s.refresh_seconds:
                self._refresh(now)  # an unknown kid: the issuer may have rotated its keys
                found = self._find(kid, alg)
            failed = self._failed
        if found:
            return found
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

    def refetch(self, kid: str | None, alg: str, tried: frozenset[str]) -> tuple[SigningKey, ...]:
        """Keys for ``kid`` and ``alg`` not among ``tried`` (tags), after a token's signature
        failed with all of those: the center may have replaced a key but kept its ``kid``. The
        JWKS is fetched again within the unknown-``kid`` rate limit (``refresh_seconds``); ``()``
        when no other key is listed, or 503 when the center cannot be reached to tell."""
        with self._lock:
            now = time.monotonic()
            fresh = tuple(k for k in self._find(kid, alg) if k.tag not in tried)
            if not fresh and now - self._attempted >= self.settings.refresh_seconds:
                self._refresh(now)
                fresh = tuple(k for k in self._find(kid, alg) if k.tag not in tried)
            failed = self._failed
        if not fresh and failed:
            raise OfficerTokenError(
                "officer.issuer_unavailable",
                "the token's signature does not verify with the cached keys and the "
                "authentication center's keys cannot be fetched now",
                503,
            )
        return fresh

    def _find(self, kid: str | None, alg: str) -> tuple[SigningKey, ...]:
        kty = "EC" if alg.startswith("ES") else "RSA"
        usable = tuple(
            k
            for k in self._keys
            if k.kty == kty
            and (k.alg is None or k.alg == alg)
            and (kty != "EC" or k.crv == _CURVES[alg])
        )
        if kid is not None:
            return tuple(k for k in usable if k.kid == kid)
        return usable if len(usable) == 1 else ()  # no kid: only an unambiguous key

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
        listed = frozenset(k.tag for k in keys)
        gone = frozenset(k.tag for k in self._keys) - listed
        self._keys, self._fetched, self._failed = keys, now, False
        if self._on_fetched is not None:
            self._on_fetched(self.settings.issuer, gone, listed)

    def _fetch_keys(self) -> tuple[SigningKey, ...]:
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

    def _parse_key(self, jwk: Any) -> SigningKey | None:
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
        crv = jwk.get("crv") if kty == "EC" else None
        return SigningKey(kid, kty, crv, alg, parsed, f"{kid}#{_thumbprint(jwk, kty)}")
