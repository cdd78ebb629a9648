"""A mock unified identity authentication center: a real OpenID Connect issuer on loopback.

A gateway that verifies officers' tokens must be tested against an issuer that behaves as a real
one does — a discovery document, a JWKS that rotates, a token endpoint — and against one that
misbehaves: keys that are gone, a JWKS endpoint that is down or answers junk. Tokens with any
claims (expired, of another audience, another department, unsigned…) are minted by
:meth:`MockIdentityCenter.token`; test users log in at ``POST /token`` as at the real center (the
``client_id`` a client sends becomes the tokens' ``azp``, the party they are bound to).

Served with uvicorn in a background thread (as the mock exchange platform is); ``govconnect
mock-identity`` serves it in the foreground. PyJWT and cryptography (``govconnect[oidc]``) are
imported when a center is made, not when ``govconnect.testing`` is.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._loopback import LoopbackServer

__all__ = ["JWKS_FAULTS", "MockIdentityCenter"]

#: What the JWKS endpoint can be told to do instead of answering: ``down`` (503), ``junk`` (not
#: JSON), ``huge`` (a 1 MiB body), ``empty`` (no keys), ``slow`` (answers after 5 s).
JWKS_FAULTS = ("down", "junk", "huge", "empty", "slow")
DEFAULT_AUDIENCE = "govconnect-gateway"


@dataclass
class _SigningKey:
    kid: str
    algorithm: str
    private: Any
    public_jwk: dict[str, Any]


@dataclass
class _User:
    subject: str
    claims: dict[str, Any] = field(default_factory=dict)


class MockIdentityCenter(LoopbackServer):
    """A mock authentication center as a context manager::

        with MockIdentityCenter() as center:
            center.add_user("zhangsan", department="11010500001", roles=["低保审核员"])
            token = center.token("zhangsan")          # or POST /token as a client would
            center.rotate()                           # a new signing key; the old stays listed
            center.rotate(kid=center.kid, keep_old=False)  # re-keyed under the same kid
            center.jwks_fault = "down"                # the JWKS endpoint answers 503

    ``issuer`` is its URL; :meth:`issuer_settings` gives the ``[[issuers]]`` table that trusts it.
    Started and stopped by :class:`LoopbackServer`.
    """

    _what = "the mock identity center"
    _backlog = 128

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        audience: str = DEFAULT_AUDIENCE,
        algorithm: str = "RS256",
    ) -> None:
        import jwt  # PyJWT; with cryptography, the 'oidc' extra

        self._jwt = jwt
        self.audience = audience
        self.lock = threading.Lock()
        self.users: dict[str, _User] = {}
        self.jwks_fault: str | None = None
        self.requests: Counter[str] = Counter()  # path -> requests served
        self._keys: list[_SigningKey] = []  # listed in the JWKS; the last one signs
        self._dropped: list[_SigningKey] = []  # no longer listed (``rotate(keep_old=False)``)
        super().__init__(host, port)
        self.rotate(algorithm=algorithm)

    # --- keys ----------------------------------------------------------------------------------

    def _new_key(self, algorithm: str, kid: str | None = None) -> _SigningKey:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        kid = kid or secrets.token_hex(8)
        if algorithm.startswith("ES"):
            curve = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
            private: Any = ec.generate_private_key(curve[algorithm]())
            jwk = self._jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
        else:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            jwk = self._jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
        jwk.update({"kid": kid, "use": "sig", "alg": algorithm})
        return _SigningKey(kid, algorithm, private, jwk)

    def rotate(
        self, *, algorithm: str | None = None, keep_old: bool = True, kid: str | None = None
    ) -> str:
        """Sign with a new key from now on and return its ``kid``; the previous keys stay in the
        JWKS (tokens they signed still verify) unless ``keep_old`` is false. ``kid``: publish the
        new key under this one (a center re-keying under a ``kid`` it used before); default, a
        new ``kid``. Keys dropped can be listed again with :meth:`republish`."""
        alg = algorithm or (self._keys[-1].algorithm if self._keys else "RS256")
        key = self._new_key(alg, kid)
        with self.lock:
            if not keep_old:
                self._dropped.extend(self._keys)
            self._keys = [*self._keys, key] if keep_old else [key]
        return key.kid

    def republish(self, kid: str) -> int:
        """List the dropped keys of ``kid`` in the JWKS again, ahead of the signing key (a center
        undoing a withdrawal); returns how many."""
        with self.lock:
            back = [k for k in self._dropped if k.kid == kid]
            self._dropped = [k for k in self._dropped if k.kid != kid]
            self._keys = [*back, *self._keys]
        return len(back)

    @property
    def kid(self) -> str:
        """The current signing key's id."""
        return self._keys[-1].kid

    def public_key_pem(self) -> bytes:
        """The current key's public half, PEM: what an algorithm-confusion attacker holds."""
        from cryptography.hazmat.primitives import serialization

        return (
            self._keys[-1]
            .private.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def jwks(self) -> dict[str, Any]:
        with self.lock:
            return {"keys": [k.public_jwk for k in self._keys]}

    # --- users and tokens ------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        *,
        department: str | None = None,
        roles: list[str] | tuple[str, ...] = (),
        acr: str | None = "urn:govconnect:loa:2",
        **claims: Any,
    ) -> None:
        """A test user (an officer, or an applicant) who may log in at ``POST /token``."""
        found = {"department": department, "roles": list(roles), "acr": acr, **claims}
        self.users[username] = _User(username, {k: v for k, v in found.items() if v is not None})

    def token(
        self,
        subject: str = "officer",
        *,
        audience: str | list[str] | None = None,
        expires_in: float = 300,
        not_before: float | None = None,
        issued_at: float | None = None,
        issuer: str | None = None,
        kid: str | None = None,
        algorithm: str | None = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed with the current key: a registered user's claims, then ``claims``
        (a claim given as ``None`` is left out). Everything is overridable, for bad tokens."""
        key = self._keys[-1]
        now = time.time() if issued_at is None else issued_at
        user = self.users.get(subject)
        payload: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": subject,
            "aud": audience or self.audience,
            "iat": int(now),
            "exp": int(now + expires_in),
            "jti": secrets.token_hex(12),
            "amr": ["pwd"],
            **(user.claims if user else {}),
        }
        if not_before is not None:
            payload["nbf"] = int(not_before)
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        head = {"kid": kid or key.kid, **(headers or {})}
        return str(
            self._jwt.encode(
                payload, key.private, algorithm=algorithm or key.algorithm, headers=head
            )
        )

    # --- serving -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._sock is None:
            raise RuntimeError(
                "the mock identity center is not running; use it as a context manager"
            )
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    @property
    def issuer(self) -> str:
        """The issuer identifier (``iss``): the center's URL."""
        return self.url

    def issuer_settings(self, **overrides: Any) -> dict[str, Any]:
        """The gateway file's ``[[issuers]]`` table trusting this center."""
        return {"issuer": self.issuer, "audience": [self.audience], **overrides}

    def _app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            self.requests["discovery"] += 1
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "jwks_uri": f"{self.url}/jwks",
                    "token_endpoint": f"{self.url}/token",
                    "response_types_supported": ["code", "id_token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": sorted(
                        {k.algorithm for k in self._keys}
                    ),
                    "grant_types_supported": ["password"],
                }
            )

        async def jwks(request: Request) -> Response:
            self.requests["jwks"] += 1
            fault = self.jwks_fault
            if fault == "down":
                return JSONResponse({"error": "unavailable"}, 503)
            if fault == "junk":
                return Response(b"<html>\x00\xff not a key set", 200, media_type="application/json")
            if fault == "huge":
                return Response(b" " * (1 << 20) + b"{}", 200, media_type="application/json")
            if fault == "empty":
                return JSONResponse({"keys": []})
            if fault == "slow":
                import asyncio

                await asyncio.sleep(5)
            return JSONResponse(self.jwks())

        async def token(request: Request) -> Response:
            self.requests["token"] += 1
            # parsed here, not with ``request.form()``: that needs python-multipart
            body = (await request.body())[:4096].decode("utf-8", "replace")
            form = {k: v[0] for k, v in parse_qs(body).items()}
            username = form.get("username", "")
            if form.get("grant_type") != "password" or username not in self.users:
                return JSONResponse({"error": "invalid_grant"}, 400)
            audience = form.get("audience") or self.audience
            # the client asking is the token's authorized party (azp), as at a real center
            client = form.get("client_id") or None
            issued = self.token(username, audience=audience, expires_in=3600, azp=client)
            return JSONResponse(
                {
                    "access_token": issued,
                    "id_token": self.token(
                        username, audience=audience, expires_in=3600, azp=client
                    ),
                    "token_type": "Bearer",
                    "expires_in": 3600,
                }
            )

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/jwks", jwks),
                Route("/token", token, methods=["POST"]),
            ]
        )

    def config(self) -> uvicorn.Config:
        """The uvicorn configuration serving this center (used by the CLI to run it in front)."""
        return uvicorn.Config(
            self._app(), ws="none", lifespan="off", log_level="warning", access_log=False
        )
