"""Rendering a generated connector project from a plain Jinja tree (``templates/from-db``…).

``govconnect new connector --from-db`` / ``--from-layout`` generate code from data (a discovery
report, a byte layout), which a cookiecutter question list cannot carry: the tree is rendered with
Jinja directly, from a context this package computes. The answers that the connector template asks
(department, system, connector name) are still checked by that template's own pre-generation hook,
so both ways of creating a connector refuse the same answers.

Names in the tree: a path part ``{{project}}`` becomes the distribution name, ``{{package}}`` the
package; a file ending ``.j2`` is rendered and loses the suffix; anything else is copied.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError, InvalidInputError, Problem
from ..catalog.names import identifier
from .new import _rendered_answers, load_template_hook, template_path

__all__ = [
    "checked_answers",
    "class_name",
    "identifier",
    "python_literal",
    "render_tree",
    "scaffold_path",
    "tidy",
]


def scaffold_path(name: str) -> Path:
    """The folder of the generator tree ``name``, found beside the connector template."""
    root = template_path("connector").parent / name
    if not root.is_dir():
        raise ConfigurationError(f"generator template {name!r} not found (looked in {root})")
    return root


def checked_answers(answers: Mapping[str, str]) -> dict[str, Any]:
    """The connector template's answers (defaults over ``answers``), refused as ``govconnect new``
    refuses them: every bad answer at once, each naming its question."""
    rendered = _rendered_answers("connector", {"backend": "sql", **answers})
    refused = load_template_hook().problems(rendered)
    if refused:
        raise InvalidInputError(
            [Problem(k, f"template.{k}", reason) for k, reason in refused],
            summary="the connector answers were refused",
        )
    return rendered


def python_literal(value: Any) -> str:
    """A value as Python source in the style ``ruff format`` keeps: strings double-quoted."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(python_literal(v) for v in value) + "]"
    return repr(value)


def class_name(name: str) -> str:
    """``rk_jbxx`` → ``RkJbxx``."""
    return "".join(part.capitalize() for part in name.split("_") if part) or "Record"


def render_tree(
    name: str, output_dir: Path, context: Mapping[str, Any], *, overwrite: bool = False
) -> Path:
    """Render generator tree ``name`` into ``output_dir``; returns the project folder."""
    import jinja2

    source = scaffold_path(name)
    project = str(context["project"])
    package = str(context["package"])
    target = Path(output_dir) / project
    if target.exists() and not overwrite:
        raise ConfigurationError(f"{target} already exists (--overwrite renders into it)")
    env = jinja2.Environment(
        # the tree first, then its siblings: a tree may include another's file (from-layout
        # shares from-db's records.py and test fixtures)
        loader=jinja2.FileSystemLoader([str(source), str(source.parent)]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters["py"] = python_literal
    for path in sorted((source / "{{project}}").rglob("*")):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(source).as_posix()
        relative = relative.replace("{{project}}", project).replace("{{package}}", package)
        out = Path(output_dir) / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.name.endswith(".j2"):
            template = env.get_template(path.relative_to(source).as_posix())
            out = out.with_name(out.name[: -len(".j2")])
            out.write_text(template.render(**context), encoding="utf-8")
        else:
            shutil.copyfile(path, out)
    tidy(target)
    return target


def tidy(project: Path) -> bool:
    """Format the generated code with ruff when it is installed (govconnect's dev extra has it),
    so a generated project lints clean however long its discovered names are; returns whether
    it ran. Without ruff the code is the same, only laid out as the template wrote it."""
    try:
        from ruff.__main__ import find_ruff_bin
    except ImportError:
        return False
    ruff = str(find_ruff_bin())
    for args in (["check", "--fix-only", "--select", "I", "-q"], ["format", "-q"]):
        subprocess.run(
            [ruff, *args, "--no-cache", "."], cwd=project, capture_output=True, check=False
        )
    return True
