"""Who stands behind a call: the officer rules of the gateway file, applied per call.

An audit trail of who saw a citizen's data is only as good as the identity in it. A consumer
system may name its handling officer in ``X-Handling-Officer`` — text it asserts, recorded as
*claimed*, never as verified — and may forward the officer's token from the authentication
center in ``X-Officer-Token``, which is verified (``identity``) and recorded as *verified* (a
keyed digest of the subject, the issuer, the login level, the token id).

Whether a call needs a verified officer is decided, first rule that says so wins:

1. the service's ``[services."REF"]`` table (``officer_required``; ``roles`` imply it);
2. the consumer's ``officer_required``;
3. ``[gateway] officer_default``: ``above_internal`` (default once an issuer is trusted) requires
   one when the consumer would see any field above ``internal``; ``always``; ``never`` (the
   only choice without ``[[issuers]]``: old gateway files keep working, with claimed officers
   only, and the gateway says so loudly at start).

A verified officer's token must have been issued to the consumer system forwarding it — the
token's ``azp`` (else its one ``aud`` value besides the gateway's own; a token naming several
clients and no ``azp`` is no client's) is one of the consumer's ``client_ids`` — when the consumer
declares any, and never to a client another consumer declares (``officer.client``: a token an
officer got for one system does not work through another). The officer must belong to the consumer's
department (or one of its ``officer_departments``) and hold one of the service's ``roles`` when it
lists any. A token that
is sent is always verified, required or not: a bad token is refused, never ignored.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .._connector import Service
from .._exceptions import AccessDeniedError, ConfigurationError
from ..catalog.classification import Level
from .identity import OFFICER_HEADER, VerifiedOfficer
from .policy import HASH_NAME, Consumer, FieldView, GatewayConfig, ServiceRules
from .verifier import TokenVerifier

__all__ = ["OfficerRules", "officer_digest"]

log = logging.getLogger("govconnect.gateway")

_SHOWN = 64  # characters of a client id shown in a refusal
_DIGESTS = 4096  # officers' digests remembered (one per subject; cleared when full)
#: Values of the audit record's ``officer_auth``.
VERIFIED, CLAIMED, REJECTED = "verified", "claimed", "rejected"


def officer_digest(audit_key: bytes, subject: str) -> str:
    """The keyed digest an audit record stores for a verified subject: HMAC-SM3 under a key
    derived from the audit key (apart from the parameter digests' and the chain's), so an export
    cannot be matched against a list of officers' ids without the key."""
    derived = hmac.new(audit_key, b"govconnect officer digest v1", HASH_NAME).digest()
    return hmac.new(derived, subject.encode("utf-8"), HASH_NAME).hexdigest()


@dataclass(frozen=True, slots=True)
class _Requirement:
    required: bool
    roles: tuple[str, ...]
    why: str


class OfficerRules:
    """The officer rules of one gateway, resolved against its services at start-up."""

    def __init__(
        self,
        config: GatewayConfig,
        services: Sequence[Service],
        digest: Callable[[str], str],
    ) -> None:
        #: client id -> the consumer declaring it (one each: checked by ``GatewayConfig``)
        self._client_owner = {c: k.id for k in config.consumers for c in k.client_ids}
        self.verifier = (
            TokenVerifier(config.issuers, self._client_owner) if config.issuers else None
        )
        self.default = config.gateway.officer_default or (
            "above_internal" if config.issuers else "never"
        )
        self._digest = digest  # the audit log's keyed digest of a subject (``officer_digest``)
        self._digests: dict[str, str] = {}  # subject -> digest: two HMAC key schedules saved
        self._by_service: dict[str, ServiceRules] = {}
        for ref, rules in config.services.items():
            matched = [s.id for s in services if ref in (s.id, s.qualified_name, s.code)]
            if not matched:
                raise ConfigurationError(
                    f"[services.{ref!r}] names no loaded service "
                    "(use a service id, connector.service or a resource code)"
                )
            for sid in matched:
                self._by_service[sid] = rules
        self._needs: dict[tuple[str, str], _Requirement] = {}
        if self.verifier is None:
            log.warning(
                "no [[issuers]] in the gateway file: officers are only claimed "
                "(X-Handling-Officer), never verified (docs/authentication.md)"
            )
            return
        unbound = [c.id for c in config.consumers if not c.client_ids]
        if unbound:
            log.warning(
                "consumer(s) %s declare no client_ids: officers' tokens they forward are not "
                "bound to them (docs/authentication.md, binding a token to its consumer)",
                ", ".join(unbound),
            )

    def close(self) -> None:
        if self.verifier is not None:
            self.verifier.close()

    def verify(self, token: str | None) -> VerifiedOfficer | None:
        """The officer of ``X-Officer-Token`` (``None`` when none was sent); raises
        :class:`~govconnect.gateway.identity.OfficerTokenError` for a token refused or one
        that cannot be verified now."""
        if token is None:
            return None
        if self.verifier is None:
            from .identity import OfficerTokenError

            raise OfficerTokenError(
                "officer.issuer", "this gateway trusts no identity issuer; send no officer token"
            )
        return self.verifier.verify(token)

    def requirement(self, consumer: Consumer, service: Service, view: FieldView) -> _Requirement:
        key = (consumer.id, service.id)
        found = self._needs.get(key)
        if found is None:
            found = self._needs[key] = self._requirement(consumer, service, view)
        return found

    def _requirement(self, consumer: Consumer, service: Service, view: FieldView) -> _Requirement:
        rules = self._by_service.get(service.id)
        roles = rules.roles if rules else ()
        if rules is not None and (rules.officer_required is not None or roles):
            required = bool(rules.officer_required) or bool(roles)
            if roles and rules.officer_required is False:
                required = True  # roles cannot be checked without an officer
            return _Requirement(required, roles, f"services.{service.qualified_name}")
        if consumer.officer_required is not None:
            return _Requirement(consumer.officer_required, (), f"consumer {consumer.id}")
        if self.default == "always":
            return _Requirement(True, (), "gateway.officer_default = always")
        if self.default == "above_internal":
            returned = set(view.returned)
            top = max(
                (i.level for i in service.resource.items if i.name in returned),
                default=Level.PUBLIC,
            )
            return _Requirement(
                top > Level.INTERNAL, (), f"fields above internal ({top.value}) are returned"
            )
        return _Requirement(False, (), "gateway.officer_default = never")

    def authorize(
        self,
        consumer: Consumer,
        service: Service,
        view: FieldView,
        officer: VerifiedOfficer | None,
    ) -> None:
        """Raise :class:`AccessDeniedError` naming the rule unless the officer behind the call
        satisfies the gateway file."""
        need = self.requirement(consumer, service, view)
        if officer is None:
            if need.required:
                raise AccessDeniedError(
                    f"{service.id} needs a verified officer ({need.why}): forward the officer's "
                    f"token from the authentication center in {OFFICER_HEADER}",
                    rule="officer.required",
                    field=OFFICER_HEADER,
                )
            return
        self._check_client(consumer, officer)
        allowed = consumer.officer_departments or (consumer.department,)
        if "*" not in allowed and officer.department not in allowed:
            raise AccessDeniedError(
                f"the officer's department ({officer.department or 'none stated'}) is not "
                f"consumer {consumer.id}'s",
                rule="officer.department",
                field=OFFICER_HEADER,
            )
        if need.roles and not set(need.roles) & set(officer.roles):
            raise AccessDeniedError(
                f"{service.id} needs an officer with one of the roles {list(need.roles)}",
                rule="officer.role",
                field=OFFICER_HEADER,
            )

    def _check_client(self, consumer: Consumer, officer: VerifiedOfficer) -> None:
        """``officer.client``: the token was issued to this consumer system (when it declares
        its client ids), and not to a system another consumer declares."""
        named = ", ".join(c[:_SHOWN] for c in officer.clients[:3]) + (
            ", …" if len(officer.clients) > 3 else ""
        )
        if consumer.client_ids:
            if officer.client in consumer.client_ids:
                return
            mine = f"one of consumer {consumer.id}'s client_ids"
            if officer.client is not None:
                why = f"was issued to {named}, not to {mine}"
            elif officer.clients:
                why = (
                    f"names the clients {named} and no azp: its client is not known, so it "
                    f"is not shown to be {mine}"
                )
            else:
                why = f"names no client (no azp, no audience but the gateway's), not {mine}"
        else:
            others = sorted(
                {self._client_owner[c] for c in officer.clients if c in self._client_owner}
            )
            if not others:
                return
            why = f"was issued to {named}: a client of consumer {others[0]}"
        raise AccessDeniedError(
            f"the officer's token {why}", rule="officer.client", field=OFFICER_HEADER
        )

    def audit_fields(
        self, officer: VerifiedOfficer | None, rejected: bool, claimed: str | None
    ) -> dict[str, Any]:
        """What the audit record says about the officer: never the token, only a digest.
        ``rejected``: a token was sent and refused (a token never checked, because the call
        was refused first, leaves the officer claimed or unknown)."""
        if officer is None:
            auth = REJECTED if rejected else CLAIMED if claimed else None
            return {"officer_auth": auth}
        found = self._digests.get(officer.subject)
        if found is None:
            if len(self._digests) >= _DIGESTS:
                self._digests.clear()
            found = self._digests[officer.subject] = self._digest(officer.subject)
        return {
            "officer_auth": VERIFIED,
            "officer_digest": found,
            "officer_issuer": officer.issuer,
            "officer_level": officer.level,
            "token_id": officer.token_id,
        }
