"""How the applicant was authenticated at the one window, and the minimum a matter asks for.

The unified intake platform logs the citizen in through the region's unified identity
authentication center before it takes the application ("一次登录、全网通办"), and says so in the
case: the issuer (the center), the level the login reached, how (the method) and when. A matter
whose legacy process must know who applied (a household move, a benefit) can ask for a minimum
level; a case below it is returned to the platform naming the rule, never written.

The levels are an ordered scale the platform's level strings map onto (``docs/authentication.md``,
"Applicants"): ``none`` < ``L1`` < ``L2`` < ``L3`` < ``L4``. ``none`` is what a case without an
authentication block counts as; a block always names one of ``L1``–``L4``.

The SDK trusts the platform's word for this (the case reaches the node over the node's own
authenticated channel); it does not verify the applicant's token, which was the one window's
to verify (see the docs for why).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from .._exceptions import Problem

__all__ = [
    "AUTH_LEVELS",
    "FUTURE_SKEW",
    "NO_AUTH_LEVEL",
    "ApplicantAuth",
    "auth_level_rank",
    "below_minimum",
    "check_auth_level",
]

AUTH_LEVELS: dict[str, str] = {
    "none": "no authentication carried by the case (a case without an applicant_auth block)",
    "L1": "a registered account (password or SMS code); identity self-declared",
    "L2": "real-name (实名): name and citizen ID checked against the population register",
    "L3": "real-person (实人): the applicant's face matched to the ID photo, or a bank card check",
    "L4": "in person at a window with the ID card read, or a digital certificate (CA, 电子营业执照)",
}
"""The levels in ascending order, with what each one means at the one window."""

NO_AUTH_LEVEL = "none"
"""The level of a case that carries no authentication block: the lowest."""

_BLOCK_LEVELS = tuple(level for level in AUTH_LEVELS if level != NO_AUTH_LEVEL)
_RANK = {level: rank for rank, level in enumerate(AUTH_LEVELS)}

FUTURE_SKEW = timedelta(minutes=5)
"""How far ahead of this node's clock an authentication time may be (clock skew); later is an
error: a login in the future is a broken or forged block."""

MAX_ISSUER = 256
MAX_METHOD = 64


def auth_level_rank(level: str) -> int:
    """The place of ``level`` on the scale (``none`` is 0); a ``KeyError`` for an unknown one."""
    return _RANK[level]


def check_auth_level(level: Any, *, where: str) -> str:
    """``level`` if it is one of ``L1``–``L4``, else a :class:`ValueError` naming ``where`` and the
    known levels (for declarations: the ``@intake`` parameter; ``none`` asks for nothing)."""
    if not isinstance(level, str) or level not in _BLOCK_LEVELS:
        raise ValueError(
            f"{where}: unknown authentication level {level!r}; one of {', '.join(_BLOCK_LEVELS)}"
        )
    return level


def _plain_text(value: str, field: str) -> str:
    """Text that can go anywhere (the journal on both engines, a reason, a terminal): no control
    characters (pydantic itself refuses a lone surrogate, rule ``string_unicode``)."""
    if not value.isprintable():
        raise PydanticCustomError("text.control", f"{field} holds control characters")
    return value


class ApplicantAuth(BaseModel):
    """The platform's statement of how the applicant logged in at the one window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str = Field(min_length=1, max_length=MAX_ISSUER)
    """The authentication center that logged the applicant in (its OIDC ``iss``)."""
    level: str
    """One of ``L1``–``L4`` (:data:`AUTH_LEVELS`)."""
    method: str | None = Field(default=None, min_length=1, max_length=MAX_METHOD)
    """How (``password``, ``sms``, ``face``, ``cert``…), as the platform names it; informative."""
    authenticated_at: datetime
    """When, with a UTC offset; not later than this node's clock plus :data:`FUTURE_SKEW`."""

    @field_validator("issuer", "method")
    @classmethod
    def _text(cls, value: str | None, info: Any) -> str | None:
        return None if value is None else _plain_text(value, info.field_name)

    @field_validator("level", mode="before")
    @classmethod
    def _known_level(cls, value: Any) -> str:
        if not isinstance(value, str) or value not in _BLOCK_LEVELS:
            shown = repr(value) if isinstance(value, str) and len(value) <= 40 else "this value"
            raise PydanticCustomError(
                "auth_level.unknown",
                f"unknown authentication level {shown}; one of {', '.join(_BLOCK_LEVELS)}",
            )
        return value

    @field_validator("authenticated_at")
    @classmethod
    def _not_in_the_future(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise PydanticCustomError(
                "auth_time.timezone", "authenticated_at needs a UTC offset (…+08:00 or …Z)"
            )
        latest = datetime.now(UTC) + FUTURE_SKEW
        if value > latest:
            raise PydanticCustomError(
                "auth_time.future",
                f"authenticated_at {value.isoformat()} is in the future (more than "
                f"{int(FUTURE_SKEW.total_seconds())} s ahead of this node's clock)",
            )
        return value


def below_minimum(
    auth: ApplicantAuth | None, minimum: str | None, *, matter: str
) -> Problem | None:
    """The problem that returns a case whose applicant authenticated below ``minimum``, naming the
    rule, the level reached and the issuer; ``None`` when the level suffices (or none is asked)."""
    if minimum is None:
        return None
    level = auth.level if auth is not None else NO_AUTH_LEVEL
    if _RANK[level] >= _RANK[minimum]:
        return None
    reached = (
        f"the applicant authenticated at level {level} by issuer {auth.issuer}"
        if auth is not None
        else f"the case carries no applicant authentication (level {NO_AUTH_LEVEL})"
    )
    return Problem(
        "applicant_auth.level",
        "intake.min_auth_level",
        f"matter {matter} requires authentication level ≥ {minimum}; {reached}",
    )
