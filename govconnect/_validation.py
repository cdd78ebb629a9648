"""Turning pydantic's validation errors into govconnect :class:`Problem` lists.

One translation for every edge (service parameters, catalog documents, intake cases, gateway
requests), so a bad value is always reported the same way: the dotted field path, the rule that
failed (pydantic's error type, or the identity rule), and pydantic's sentence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ._exceptions import IdentityError, InvalidInputError, Problem

__all__ = ["problems_from_pydantic", "validate_model"]

M = TypeVar("M", bound=BaseModel)


def problems_from_pydantic(exc: ValidationError, prefix: str = "") -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"])
        field = f"{prefix}.{path}" if prefix and path else (prefix or path or "(root)")
        rule = err["type"]
        message = err["msg"]
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, IdentityError):
            rule = f"{cause.kind.replace(' ', '_')}.{cause.rule}"
            message = f"invalid {cause.kind}: {cause.problems[0].message}"
        problems.append(Problem(field, rule, message))
    return problems


def validate_model(model: type[M], data: Mapping[str, Any] | M, prefix: str = "") -> M:
    """``model.model_validate`` that raises :class:`InvalidInputError` naming fields and rules."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(
            problems_from_pydantic(exc, prefix), summary=f"invalid {model.__name__}"
        ) from None
