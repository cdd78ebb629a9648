"""govconnect plugin for a department's legacy system.

{{ cookiecutter.system_name }} ({{ cookiecutter.system_code }}) of {{ cookiecutter.department_name }} ({{ cookiecutter.department_code }}).

Found by govconnect through the ``govconnect`` entry-point group (see pyproject.toml); the module
itself is the plugin. ``conformance`` tells the conformance kit how to check the connector: the
tests run it (tests/test_conformance.py), and so does ``govconnect check`` on the command line.
"""

from __future__ import annotations

from govconnect import hookimpl
from govconnect.testing import Conformance

from .connector import {{ cookiecutter.__class_name }}
from .records import Person, PersonQuery
from .sample import sample_legacy_system
from .sample_data import MATTER_CODE, {% if cookiecutter.offering != "dataset" %}SAMPLE_CITIZEN_ID, {% endif %}sample_case

__all__ = {{ ((["Person", "PersonQuery", cookiecutter.__class_name] | sort(case_sensitive=True) | list) + ["conformance"]) | tojson }}

conformance = Conformance(
    {{ cookiecutter.__class_name }},
{%- if cookiecutter.offering != "dataset" %}
    sample_params={"person": {"citizen_id": SAMPLE_CITIZEN_ID}},
{%- endif %}
    sample_cases={MATTER_CODE: sample_case()},
    legacy=sample_legacy_system,
)


@hookimpl
def register_connectors() -> list[type[{{ cookiecutter.__class_name }}]]:
    return [{{ cookiecutter.__class_name }}]
