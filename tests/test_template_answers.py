"""The connector template refuses answers that cannot work, before generating anything."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

from govconnect import InvalidInputError
from govconnect._connector import CODE_PATTERN, NAME_PATTERN
from govconnect.catalog.model import RESOURCE_CODE
from govconnect.cli.new import load_template_hook, render_connector, template_path

hook = load_template_hook()


def test_hook_code_rule_is_the_sdk_rule() -> None:
    assert hook.CODE_PATTERN == CODE_PATTERN


@pytest.mark.parametrize(
    "code", ["111112001/0001", "311101001/0001", "2011220011/12", "411112001/1", "11111200/1", "x"]
)
def test_hook_resource_code_rule_agrees_with_the_catalog(code: str) -> None:
    assert bool(re.match(hook.RESOURCE_CODE_PATTERN, code)) == bool(RESOURCE_CODE.match(code))


@pytest.mark.parametrize("name", ["a", "civil_affairs", "x" * 30, "x" * 31, "Bad", "1a", "a-b"])
def test_names_the_hook_accepts_are_names_the_sdk_accepts(name: str) -> None:
    if re.match(hook.NAME_PATTERN, name):
        assert NAME_PATTERN.match(name)


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"department_code": "民政局"}, "department_code"),
        ({"department_code": "1"}, "department_code"),
        ({"department_code": "D" * 33}, "department_code"),
        ({"system_code": "has space"}, "system_code"),
        ({"connector_name": "Civil-Affairs"}, "connector_name"),
        ({"connector_name": "1st"}, "connector_name"),
        ({"connector_name": "x" * 31}, "connector_name"),
        ({"connector_name": "household"}, "connector_name"),  # govconnect_household is installed
        ({"department_name": "  "}, "department_name"),
        ({"author": 'Quote "Corp"'}, "author"),
        ({"resource_code": "111-112"}, "resource_code"),
        ({"matter_code": "事项 1"}, "matter_code"),
        ({"project_slug": "-bad-"}, "project_slug"),
        ({"project_slug": "a/b"}, "project_slug"),
        ({"sharing": "open"}, "sharing"),
        ({"sharing": "conditional", "sharing_terms": " "}, "sharing_terms"),
        ({"sharing": "not_shared"}, "sharing_terms"),  # a legal basis is required
        ({"update_cycle": "hourly"}, "update_cycle"),
        ({"offering": "everything"}, "offering"),
    ],
)
def test_invalid_answer_is_refused_naming_the_field(
    answers: dict[str, str], field: str, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError) as info:
        # the matter code's default derives from the department code: keep it out of the way
        render_connector(tmp_path, {"matter_code": "M-0001", **answers})
    assert [p.field for p in info.value.problems] == [field]
    assert list(tmp_path.iterdir()) == []


def test_every_refused_answer_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        render_connector(tmp_path, {"department_code": "?", "system_code": "?"})
    assert {p.field for p in info.value.problems} == {
        "department_code",
        "system_code",
        "matter_code",
    }


def test_unknown_question_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="unknown template question"):
        render_connector(tmp_path, {"departmentcode": "X1"})


def test_plain_cookiecutter_runs_the_same_hook(tmp_path: Path) -> None:
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(template_path()),
            no_input=True,
            extra_context={"department_code": "民政局", "connector_name": "plain_cc"},
            output_dir=str(tmp_path),
        )
    assert list(tmp_path.iterdir()) == []


def test_plain_cookiecutter_renders_valid_answers(tmp_path: Path) -> None:
    created = Path(
        cookiecutter(
            str(template_path()),
            no_input=True,
            extra_context={"connector_name": "plain_cc", "backend": "file-drop"},
            output_dir=str(tmp_path),
        )
    )
    assert (created / "govconnect_plain_cc" / "connector.py").is_file()
    assert not (created / "_variants").exists()
