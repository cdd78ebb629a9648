"""The case (办件) a citizen or company filed at the unified intake platform (the "one window").

A case names the matter (事项编码), the applicant — a person identified by citizen ID or an
organisation identified by unified social credit code ("one number to apply") — the form fields,
and the materials. A material is either an uploaded file (with its checksum) or a reference to an
electronic licence (电子证照) the government already holds, so nobody is asked for it twice.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..catalog.identity import CitizenId, CreditCode
from ..exchange.platform import MAX_CASE_ID_LENGTH
from .auth import NO_AUTH_LEVEL, ApplicantAuth

__all__ = [
    "Applicant",
    "Case",
    "CaseStatus",
    "Channel",
    "ElectronicLicence",
    "FileMaterial",
    "Material",
    "Organization",
    "Person",
]

MAX_FORM_TEXT = 65_536
"""The longest text one form value may hold (characters): a citizen's statement fits many times
over, and nothing larger reaches a mapping, a legacy column or the journal."""
MAX_FORM_VALUES = 10_000
"""The most values (keys, list items, leaves) a form may hold in all."""
MAX_FORM_DEPTH = 16
"""The deepest nesting of objects and lists a form may have."""


class CaseStatus(StrEnum):
    """Status of a case as it flows back to the intake platform."""

    ACCEPTED = "accepted"  # 受理
    IN_PROGRESS = "in_progress"  # 办理中
    COMPLETED = "completed"  # 办结
    RETURNED = "returned"  # 退回


class Channel(StrEnum):
    WINDOW = "window"  # 窗口
    ONLINE = "online"  # 网上办
    MOBILE = "mobile"  # 掌上办
    SELF_SERVICE = "self_service"  # 自助终端


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Strict):
    kind: Literal["person"] = "person"
    name: str = Field(min_length=1, max_length=50)
    citizen_id: CitizenId
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9-]{5,20}$")


class Organization(_Strict):
    kind: Literal["organization"] = "organization"
    name: str = Field(min_length=1, max_length=200)
    credit_code: CreditCode
    representative: str | None = Field(default=None, description="法定代表人")
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9-]{5,20}$")


Applicant = Annotated[Person | Organization, Field(discriminator="kind")]


class FileMaterial(_Strict):
    """An uploaded file, referenced (not embedded) with the checksum that proves its content."""

    kind: Literal["file"] = "file"
    name: str = Field(min_length=1)
    uri: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str = "application/pdf"


class ElectronicLicence(_Strict):
    """An electronic licence (电子证照) already held by government: referenced, never re-uploaded."""

    kind: Literal["licence"] = "licence"
    name: str = Field(min_length=1)
    licence_type: str = Field(min_length=1, description="证照类型代码")
    licence_no: str = Field(min_length=1, description="证照编号")
    issuer: str | None = None


Material = Annotated[FileMaterial | ElectronicLicence, Field(discriminator="kind")]


class Case(_Strict):
    """One application, validated at the edge: identity numbers, materials, timestamps."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    case_id: str = Field(min_length=1, max_length=MAX_CASE_ID_LENGTH)
    """Any non-empty text the platform contract allows (``办件/1``, ``..``, spaces); it travels
    percent-encoded. Whether the legacy system can hold it is the target's check (its key column)."""
    matter_code: str = Field(min_length=1, max_length=64, description="事项编码")
    matter_name: str = Field(default="", max_length=200)
    applicant: Applicant
    form: dict[str, Any] = Field(default_factory=dict)
    materials: list[Material] = Field(default_factory=list)
    submitted_at: datetime
    channel: Channel = Channel.ONLINE
    applicant_auth: ApplicantAuth | None = None
    """How the applicant logged in at the one window (issuer, level, method, time); a case
    without it counts as level ``none``, the lowest (:mod:`govconnect.cases.auth`)."""

    @property
    def auth_level(self) -> str:
        """The applicant's authentication level: the block's, or ``none`` without one."""
        return self.applicant_auth.level if self.applicant_auth is not None else NO_AUTH_LEVEL

    @field_validator("form")
    @classmethod
    def _bounded_form(cls, form: dict[str, Any]) -> dict[str, Any]:
        """Bound what a form may carry before anything maps it; the error names the form field."""
        problem = form_problem(form)
        if problem is not None:
            raise ValueError(problem)
        return form

    @model_validator(mode="after")
    def _unique_materials(self) -> Case:
        names = [m.name for m in self.materials]
        if len(names) != len(set(names)):
            raise ValueError("material names must be unique within a case")
        return self


def form_problem(form: Any) -> str | None:
    """Why a form exceeds the bounds (``MAX_FORM_*``) or holds text with no UTF-8 form, naming the
    field (``form.address.street``); ``None`` when it is fine."""
    count = 0
    stack: list[tuple[str, Any, int]] = [("form", form, 0)]
    while stack:
        where, value, depth = stack.pop()
        count += 1
        if count > MAX_FORM_VALUES:
            return f"the form holds more than {MAX_FORM_VALUES} values"
        if depth > MAX_FORM_DEPTH:
            return f"{where}: nested deeper than {MAX_FORM_DEPTH} levels"
        if isinstance(value, str):
            if len(value) > MAX_FORM_TEXT:
                return f"{where}: {len(value)} characters, at most {MAX_FORM_TEXT}"
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    return f"{where}: not valid Unicode text (a lone surrogate)"
        elif isinstance(value, dict):
            for key, item in value.items():
                stack.append((f"{where}.{key}", item, depth + 1))
                if isinstance(key, str) and len(key) > 200:
                    return f"{where}: a field name of {len(key)} characters, at most 200"
        elif isinstance(value, list):
            stack.extend((f"{where}.{i}", item, depth + 1) for i, item in enumerate(value))
    return None
