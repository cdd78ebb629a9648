"""``govconnect new connector``: scaffold a connector plugin from the cookiecutter template.

A thin wrapper around cookiecutter's Python API, so vendors need no second tool and answers can be
given on the command line (``--set department_code=11010500000``). ``cookiecutter templates/connector``
renders the same template. With ``--no-input`` the answers are checked here first, by the template's
own pre-generation hook, so every bad answer is reported at once with the field it belongs to.
Without it govconnect asks the template's questions itself (cookiecutter would check the answers
only after the last one, so a typo in the ninth lost all nine) and checks each answer as it is typed
with the same hook (:func:`field_problems`), asking again until it can work; only then is anything
rendered, so a refused answer (a ``project_slug`` of ``a/b``) never leaves a folder behind.

The template is found in the installed package (``govconnect/_templates``, shipped as package data)
or, in a source checkout, in ``templates/`` at the repository root; ``$GOVCONNECT_TEMPLATES`` points
elsewhere.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from enum import StrEnum
from pathlib import Path
from types import ModuleType
from typing import Any

import typer
from rich.markup import escape

from .._exceptions import ConfigurationError, InvalidInputError, Problem
from ._common import console, err_console, handles_errors

__all__ = [
    "load_template_hook",
    "prompt_answers",
    "render_connector",
    "template_answers",
    "template_path",
]

new_app = typer.Typer(help="Scaffold new plugins from templates.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(new_app, name="new")


def template_path(name: str = "connector") -> Path:
    """The folder of template ``name`` (the one holding ``cookiecutter.json``)."""
    package_dir = Path(__file__).resolve().parent.parent
    candidates = [
        package_dir / "_templates" / name,
        package_dir.parent / "templates" / name,
    ]
    if os.environ.get("GOVCONNECT_TEMPLATES"):
        candidates.insert(0, Path(os.environ["GOVCONNECT_TEMPLATES"]) / name)
    for candidate in candidates:
        if (candidate / "cookiecutter.json").is_file():
            return candidate
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigurationError(f"template {name!r} not found (looked in {tried})")


def template_answers(name: str = "connector") -> dict[str, Any]:
    """The template's questions with their default answers (``cookiecutter.json``)."""
    data: dict[str, Any] = json.loads(
        (template_path(name) / "cookiecutter.json").read_text(encoding="utf-8")
    )
    return data


def load_template_hook(name: str = "connector") -> ModuleType:
    """The template's pre-generation hook as a module, to validate answers in-process."""
    path = template_path(name) / "hooks" / "pre_gen_project.py"
    module = ModuleType(f"_govconnect_template_{name}_hook")
    module.__file__ = str(path)
    # Compiled by hand rather than imported, so no __pycache__ appears inside the template.
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


def _rendered_answers(name: str, answers: Mapping[str, str]) -> dict[str, Any]:
    """What cookiecutter would answer with ``--no-input``: defaults rendered over ``answers``."""
    from cookiecutter.prompt import prompt_for_config

    context = {"cookiecutter": template_answers(name)}
    for key, value in answers.items():
        default = context["cookiecutter"][key]
        if isinstance(default, list):
            context["cookiecutter"][key] = [value] + [v for v in default if v != value]
        else:
            context["cookiecutter"][key] = value
    rendered: dict[str, Any] = prompt_for_config(context, no_input=True)
    return rendered


def prompt_answers(given: Mapping[str, str], name: str = "connector") -> dict[str, str]:
    """Ask every question ``given`` (``--set``) does not answer, in ``cookiecutter.json``'s order,
    checking each answer as it is typed with the template's own rules and asking again on a bad
    one. Defaults are rendered from the answers so far, as cookiecutter renders them."""
    from cookiecutter.environment import StrictEnvironment
    from cookiecutter.prompt import render_variable

    questions = template_answers(name)
    prompts: dict[str, Any] = questions.get("__prompts__", {})
    hook = load_template_hook(name)
    env = StrictEnvironment(context={"cookiecutter": questions})
    so_far: dict[str, Any] = {}
    for key, raw in questions.items():
        if key.startswith("_"):
            continue
        if key in given:
            so_far[key] = given[key]
            continue
        if isinstance(raw, list):
            ask = _choice_asker(key, [str(render_variable(env, c, so_far)) for c in raw], prompts)
        else:
            default = str(render_variable(env, raw, so_far))
            text = str(prompts.get(key, key))

            def ask(default: str = default, text: str = text) -> str:
                return str(typer.prompt(text, default=default, show_default=True))

        while True:
            value = ask()
            refused = hook.field_problems(
                key, _with_defaults(env, questions, {**so_far, key: value})
            )
            if not refused:
                break
            for reason in refused:
                err_console.print(f"error: {key}: {escape(reason)}; answer again")
        so_far[key] = value
    return {k: str(v) for k, v in so_far.items()}


def _with_defaults(
    env: Any, questions: Mapping[str, Any], so_far: Mapping[str, Any]
) -> dict[str, Any]:
    """``so_far`` completed with the defaults of the questions not asked yet, so the hook's
    rules, which see every answer, judge only the one just typed (the caller keeps its field)."""
    from cookiecutter.prompt import render_variable

    full = dict(so_far)
    for key, raw in questions.items():
        if key.startswith("_") or key in full:
            continue
        first = raw[0] if isinstance(raw, list) else raw
        try:
            full[key] = render_variable(env, first, full)
        except Exception:  # a default that cannot render yet judges nothing of this answer
            full[key] = ""
    return full


def _choice_asker(key: str, choices: list[str], prompts: Mapping[str, Any]) -> Any:
    """A question with choices: numbered as cookiecutter numbers them; a number or a name."""
    described = prompts.get(key, {})
    title = described.get("__prompt__", key) if isinstance(described, dict) else str(described)

    def ask() -> str:
        console.print(f"{escape(title)}")
        for i, choice in enumerate(choices, 1):
            label = described.get(choice, choice) if isinstance(described, dict) else choice
            console.print(f"  {i} - {escape(str(label))}")
        answer = str(typer.prompt(f"Choose from 1-{len(choices)} or a name", default="1")).strip()
        if answer.isdigit() and 1 <= int(answer) <= len(choices):
            return choices[int(answer) - 1]
        return answer  # a name, or a bad answer the rules refuse

    return ask


FIXED_WIDTH = "fixed-width"
"""The backend ``govconnect new connector`` drafts with the from-layout generator."""


def sample_layout() -> Path:
    """The sample fixed-width layout (a civil-affairs relief drop: GB18030, record type ``D``,
    trailer ``T``) the fixed-width variant is drafted from when no ``--from-layout`` is given."""
    from ._scaffold import scaffold_path

    return scaffold_path("from-layout") / "sample_layout.csv"


def render_connector(
    output_dir: Path | str = ".",
    answers: Mapping[str, str] | None = None,
    *,
    no_input: bool = True,
    overwrite: bool = False,
) -> Path:
    """Render the connector template into ``output_dir``; returns the generated project folder.

    ``answers`` override the template's defaults (unknown keys are refused). With ``no_input``
    the answers are validated first and an :class:`InvalidInputError` names every refused one.
    """
    from cookiecutter.exceptions import CookiecutterException, FailedHookException
    from cookiecutter.main import cookiecutter

    answers = dict(answers or {})
    if answers.get("backend") == FIXED_WIDTH:
        raise ConfigurationError(
            "the fixed-width variant is drafted from a byte layout, not rendered from this "
            "template: govconnect new connector --set backend=fixed-width [--from-layout "
            "LAYOUT.csv] (in code: govconnect.cli._from_layout.render_from_layout)"
        )
    questions = {k for k in template_answers() if not k.startswith("_")}
    unknown = sorted(set(answers) - questions)
    if unknown:
        raise InvalidInputError(
            [
                Problem(k, "template.unknown_question", "the template asks no such question")
                for k in unknown
            ],
            summary=f"unknown template question(s); it asks: {', '.join(sorted(questions))}",
        )
    if no_input:
        refused = load_template_hook().problems(_rendered_answers("connector", answers))
        if refused:
            raise InvalidInputError(
                [Problem(k, f"template.{k}", reason) for k, reason in refused],
                summary="the connector template refused the answers",
            )
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    hook_log = logging.getLogger("cookiecutter.hooks")
    level = hook_log.level
    hook_log.setLevel(logging.CRITICAL)  # a refused answer is reported below, not as a traceback
    try:
        created = cookiecutter(
            str(template_path("connector")),
            no_input=no_input,
            extra_context=answers,
            output_dir=str(output_dir),
            overwrite_if_exists=overwrite,
        )
    except FailedHookException:
        raise ConfigurationError(
            "the template refused the answers (see the messages above); no files were generated"
        ) from None
    except (CookiecutterException, ValueError) as exc:
        raise ConfigurationError(f"could not render the connector template: {exc}") from exc
    finally:
        hook_log.setLevel(level)
    return Path(created)


def element_namer() -> Callable[[str, str], Any]:
    """Discovery's dictionary (with what installed plugins add through ``discovery_dictionary``),
    so the elements of a WSDL get the titles and classification the columns of a database get."""
    from .._registry import load_registry
    from ..discovery.discover import toolkit

    dictionary = toolkit(load_registry()).dictionary
    return lambda name, documentation: dictionary.lookup(name) or dictionary.by_title(documentation)


def _wsdl_drafter() -> tuple[Any, Any]:
    """``draft_services`` and ``write_draft`` of ``govconnect.soap``, imported only when asked:
    they need zeep, which a core install does not have."""
    try:
        from ..soap._draft_module import write_draft
        from ..soap._scaffold import draft_services
    except ImportError:
        raise ConfigurationError(
            "--from-wsdl needs the SOAP extra: pip install 'govconnect[soap]'"
        ) from None
    return draft_services, write_draft


class Encoding(StrEnum):
    """Encodings of fixed-width drop files (widths count bytes in them)."""

    gb18030 = "gb18030"
    utf8 = "utf-8"


def _parse_sets(values: list[str]) -> dict[str, str]:
    answers: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        answers[key.strip()] = value
    return answers


@new_app.command("connector")
@handles_errors
def connector(
    no_input: bool = typer.Option(
        False, "--no-input", help="Do not prompt: use the defaults and the --set answers."
    ),
    output_dir: Path = typer.Option(
        Path("."), "--output-dir", "-o", help="Where to create the project folder."
    ),
    sets: list[str] = typer.Option(
        [],
        "--set",
        "-s",
        metavar="KEY=VALUE",
        help="Answer a template question, e.g. --set connector_name=civil_affairs (repeatable).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Render into an existing project folder."
    ),
    from_wsdl: str | None = typer.Option(
        None,
        "--from-wsdl",
        metavar="URL_OR_FILE",
        help="Draft records and query services from a SOAP WebService's WSDL (backend soap).",
    ),
    operations: list[str] = typer.Option(
        [],
        "--operation",
        metavar="NAME",
        help="With --from-wsdl: the operations to draft services for (repeatable; default: "
        "every operation that answers records).",
    ),
    from_db: str | None = typer.Option(
        None,
        "--from-db",
        metavar="URL",
        help="Draft the connector from this database (read-only discovery); the password is "
        "never written: it goes to GOVCONNECT_<NAME>_PASSWORD.",
    ),
    tables: list[str] = typer.Option(
        [], "--table", help="With --from-db: only this table (repeatable; default all)."
    ),
    schema: str | None = typer.Option(None, "--schema", help="With --from-db: the schema."),
    sample: int = typer.Option(
        1000, "--sample", min=1, help="With --from-db: rows sampled per table."
    ),
    from_layout: Path | None = typer.Option(
        None,
        "--from-layout",
        metavar="LAYOUT.csv",
        help="Draft a file-drop connector from a fixed-width byte layout "
        "(CSV: name,title,start,length,type).",
    ),
    encoding: Encoding = typer.Option(
        Encoding.gb18030, "--encoding", help="With --from-layout: the drop files' encoding."
    ),
    trailer: str | None = typer.Option(
        None,
        "--trailer",
        metavar="PREFIX",
        help="With --from-layout: files end with PREFIX and a 9-digit record count.",
    ),
    record_type: str | None = typer.Option(
        None,
        "--record-type",
        metavar="VALUE",
        help="With --from-layout: the first field holds VALUE on every record line.",
    ),
) -> None:
    """Create a connector plugin project: connector, sample legacy system, tests, README."""
    answers = _parse_sets(sets)
    if (tables or schema) and not from_db:
        raise typer.BadParameter("--table and --schema go with --from-db")
    if sum(1 for source in (from_db, from_layout, from_wsdl) if source) > 1:
        raise typer.BadParameter("give one of --from-db, --from-layout and --from-wsdl")
    if (trailer or record_type) and not from_layout:
        raise typer.BadParameter("--trailer and --record-type go with --from-layout")
    if from_wsdl is not None and answers.setdefault("backend", "soap") != "soap":
        raise typer.BadParameter("--from-wsdl drafts a soap connector", param_hint="--set")
    if not (no_input or from_db or from_layout):  # the drafters from data never prompt
        answers = prompt_answers(answers)
    if answers.get("backend") == FIXED_WIDTH and not (from_db or from_wsdl):
        # The fixed-width variant is the from-layout generator (FixedWidthLayout reading the
        # drop files), drafted from the vendor's layout or, without one, from the sample layout.
        if from_layout is None:
            from_layout = sample_layout()
            trailer, record_type = trailer or "T", record_type or "D"
        answers.pop("backend")
    if from_layout:
        from ._from_layout import render_from_layout

        created, context = render_from_layout(
            from_layout,
            output_dir,
            answers,
            encoding=encoding.value,
            trailer=trailer,
            record_type=record_type,
            overwrite=overwrite,
        )
        if from_layout == sample_layout():
            console.print(
                "fixed-width variant drafted from the sample layout (a civil-affairs relief drop); "
                "draft from the legacy system's own with --from-layout LAYOUT.csv"
            )
        fields = len(context["tables"][0]["fields"])
        console.print(
            f"created connector plugin in {created}: {fields} fields of {context['source']}, "
            f"{context['record_width']} bytes per record"
        )
        console.print("next, from that folder (README.md explains):")
        console.print("  pip install -e .")
        console.print("  pytest")
        return
    if from_db:
        from ._from_db import render_from_db

        created, context = render_from_db(
            from_db,
            output_dir,
            answers,
            tables=tables,
            schema=schema,
            sample=sample,
            overwrite=overwrite,
        )
        _print_from_db(created, context)
        return
    if from_wsdl is not None:
        draft_services, write_draft = _wsdl_drafter()
        # a bad WSDL fails before any file is written
        drafted = draft_services(from_wsdl, operations, namer=element_namer())
    created = render_connector(output_dir, answers, no_input=True, overwrite=overwrite)
    if from_wsdl is not None:
        write_draft(created, _rendered_answers("connector", answers), drafted)
        for d in drafted[1]:
            console.print(f"drafted service {d.service} from operation {d.operation}")
        console.print(
            "the drafts are marked DRAFT: codes, sharing and classification need a person"
        )
    console.print(f"created connector plugin in {created}")
    console.print("next, from that folder (README.md explains):")
    console.print("  pip install -e .")
    console.print("  pytest")


def _print_from_db(created: Path, context: Mapping[str, Any]) -> None:
    """What was drafted, what could not be, and what a person decides next."""
    tables = context["tables"]
    drafts = sum(len(t["drafts"]) for t in tables) * 2  # a dataset and a lookup per table
    console.print(
        f"created connector plugin in {created}: {len(tables)} table(s), "
        f"{2 * len(tables)} services, drafted from {context['shown_url']}"
    )
    for name, error in context["failed"]:
        err_console.print(f"warning: table {name!r} not generated: {error}")
    console.print(
        f"{drafts} catalog values are drafts a person must decide (govconnect catalog show)"
    )
    if context["has_password"]:
        console.print(f"the password was not written: set {context['env_prefix']}PASSWORD")
    console.print("next, from that folder (README.md explains):")
    console.print("  pip install -e .")
    console.print("  pytest")
