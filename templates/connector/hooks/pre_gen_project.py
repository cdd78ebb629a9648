"""Refuse answers that would generate a connector plugin that cannot work, before any file exists.

cookiecutter renders this file with the answers and runs it; a non-zero exit stops generation.
The rules mirror govconnect's own (``govconnect._connector.CODE_PATTERN`` for department and system
codes, the connector name rule, the resource-code rule); a test in govconnect keeps them equal.
Connector names are limited to 30 characters (the SDK allows 63) so the generated code keeps to
the line length whatever the answers.
``govconnect new connector`` also imports this module and calls :func:`problems` itself, so it
can report every bad answer at once with the field it belongs to.

The file stays valid Python before rendering: the answers arrive as JSON inside a raw string.
"""

from __future__ import annotations

import json
import re
import sys
from importlib.util import find_spec
from typing import Any

CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_-]{1,31}$"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,29}$"
RESOURCE_CODE_PATTERN = r"^[1-3]\d{2}\d{3}\d*/\d+$"
MATTER_CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z_-]{0,63}$"
DISTRIBUTION_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$"
BACKENDS = ("sql", "file-drop", "fixed-width", "rest", "soap")
# Drafted from a byte layout by ``govconnect new connector`` (the from-layout generator), so
# plain cookiecutter, which only has ``_variants/``, cannot render it.
GOVCONNECT_ONLY = ("fixed-width",)
OFFERINGS = ("lookup", "both", "dataset")
# A bulk dataset reads the whole table; the rest and soap samples answer one person at a time.
DATASET_BACKENDS = ("sql", "file-drop", "fixed-width")
SHARING = ("conditional", "unconditional", "not_shared")
UPDATE_CYCLES = ("real_time", "daily", "weekly", "monthly", "quarterly", "half_yearly", "yearly")
TEXT_FIELDS = ("department_name", "system_name", "author")

ANSWERS = r"""{{ cookiecutter | jsonify }}"""


def problems(answers: dict[str, Any]) -> list[tuple[str, str]]:
    """Every refused answer as ``(field, reason)``; empty when the answers can work."""
    found: list[tuple[str, str]] = []
    for key in ("department_code", "system_code"):
        value = str(answers.get(key, ""))
        if not re.match(CODE_PATTERN, value):
            found.append(
                (
                    key,
                    f"{value!r} is not a code govconnect accepts: 2-32 letters, digits, '-' or "
                    "'_', starting with a letter or digit",
                )
            )
    for key in TEXT_FIELDS:
        found.extend(_text_problems(key, str(answers.get(key, ""))))
    name = str(answers.get("connector_name", ""))
    package = f"govconnect_{name}"
    if not re.match(NAME_PATTERN, name):
        found.append(
            (
                "connector_name",
                f"{name!r} cannot name a connector and a package: use up to 30 lower-case letters, "
                "digits and '_', starting with a letter (e.g. civil_affairs)",
            )
        )
    elif _importable(package):
        found.append(
            (
                "connector_name",
                f"package {package!r} is already installed here; two plugins cannot share it, "
                "choose another connector name",
            )
        )
    backend = answers.get("backend")
    if backend not in BACKENDS:
        found.append(("backend", f"{backend!r} is not one of {', '.join(BACKENDS)}"))
    offering = answers.get("offering", "lookup")
    if offering not in OFFERINGS:
        found.append(("offering", f"{offering!r} is not one of {', '.join(OFFERINGS)}"))
    elif offering != "lookup" and backend in BACKENDS and backend not in DATASET_BACKENDS:
        found.append(
            (
                "offering",
                f"the {backend} backend's sample answers lookups only (one person at a time); a "
                f"bulk dataset needs {', '.join(DATASET_BACKENDS)}, or add it by hand after "
                "choosing lookup",
            )
        )
    matter = str(answers.get("matter_code", ""))
    if not re.match(MATTER_CODE_PATTERN, matter):
        found.append(
            (
                "matter_code",
                f"{matter!r} is not a matter code: 1-64 letters, digits, '-' or '_'",
            )
        )
    code = str(answers.get("resource_code", ""))
    if not re.match(RESOURCE_CODE_PATTERN, code):
        found.append(
            (
                "resource_code",
                f"{code!r} is not classification code / sequence code, e.g. 311101001/0001",
            )
        )
    sharing = answers.get("sharing")
    if sharing not in SHARING:
        found.append(("sharing", f"{sharing!r} is not one of {', '.join(SHARING)}"))
    terms = str(answers.get("sharing_terms", ""))
    if sharing in ("conditional", "not_shared"):
        # The catalog refuses conditional sharing without conditions and not_shared without a
        # legal basis: ask now, not when the plugin first loads.
        found.extend(_text_problems("sharing_terms", terms))
    elif terms.strip():
        found.extend(
            p for p in _text_problems("sharing_terms", terms) if p[1] != "must not be blank"
        )
    cycle = answers.get("update_cycle")
    if cycle not in UPDATE_CYCLES:
        found.append(("update_cycle", f"{cycle!r} is not one of {', '.join(UPDATE_CYCLES)}"))
    slug = str(answers.get("project_slug", ""))
    if not re.match(DISTRIBUTION_PATTERN, slug):
        found.append(("project_slug", f"{slug!r} is not a valid distribution name"))
    return found


def field_problems(field: str, answers: dict[str, Any]) -> list[str]:
    """Why the answer to ``field`` is refused, given the answers so far; empty when it can work.

    The same rules as :func:`problems` (one source): ``govconnect new connector`` calls this
    after each answer, so a typo is asked again at once instead of after the last question.
    """
    return [reason for key, reason in problems(answers) if key == field]


def _text_problems(key: str, value: str) -> list[tuple[str, str]]:
    """A text answer lands inside a Python string literal in the generated code."""
    if not value.strip():
        return [(key, "must not be blank")]
    if any(c in value for c in '"\\') or any(ord(c) < 32 for c in value):
        return [(key, f"{value!r} contains a quote, backslash or control character")]
    if len(value) > 100:
        return [(key, "is longer than 100 characters")]
    return []


def _importable(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def main() -> int:
    answers = json.loads(ANSWERS)
    found = problems(answers)
    if answers.get("backend") in GOVCONNECT_ONLY:
        found.append(
            (
                "backend",
                f"{answers['backend']!r} is drafted from a layout by govconnect, not by plain "
                "cookiecutter: govconnect new connector --set backend=fixed-width "
                "[--from-layout LAYOUT.csv]",
            )
        )
    for key, reason in found:
        print(f"error: {key}: {reason}", file=sys.stderr)
    if found:
        print("error: no files were generated; answer again.", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
