"""Writing the drafted connector: the Python module, its test, the WSDL and the entry point.

``_scaffold`` reads the WSDL into :class:`DraftService` sketches; this module turns them into code
in the shape ruff formats it (one literal item a line, magic trailing commas), so the generated
project lints clean before anyone edits it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError
from ._scaffold import DraftService

__all__ = ["render_draft", "write_draft"]


def render_draft(
    drafts: Sequence[DraftService],
    *,
    package: str,
    connector_class: str,
    connector_name: str,
    resource_code: str,
    system_name: str,
    published: date,
) -> str:
    """The Python module of the drafted connector (a plugin of its own, with its conformance)."""
    classification, _, sequence = resource_code.partition("/")
    width = max(len(sequence), 4)
    used = {f.annotation for d in drafts for f in (*d.params, *d.record)}
    out = [_head(used, connector_class)]
    for d in drafts:
        out.append(f"\n\nclass {d.stem}Params(BaseModel):")
        out.append(f'    """Input of {d.operation}."""\n')
        out.append('    model_config = ConfigDict(extra="forbid")\n')
        for f in d.params:
            default = "" if f.required else " = None"
            annotation = f.annotation if f.required else f"{f.annotation} | None"
            out.append(f"    {f.name}: {annotation}{default}")
        if not d.params:
            out.append("    pass")
        out.append(f"\n\nclass {d.stem}Record(Record):")
        out.append(
            f'    """{_doc(d.title)} (answer of {d.operation}); levels and flags suggested."""\n'
        )
        for f in d.record:
            annotation = f.annotation if f.required else f"{f.annotation} | None"
            default = "" if f.required else ", default=None"
            args = f"{_str(f.title)}, level=Level.{f.level}, personal={f.personal}{default}"
            line = f"    {f.name}: {annotation} = field({args})"
            out.append(
                line
                if len(line) <= 100
                else f"    {f.name}: {annotation} = field(\n        {args}\n    )"
            )
    out.append(_CLASS.format(connector_class=connector_class, connector_name=connector_name))
    for n, d in enumerate(drafts):
        code = f"{classification}/{int(sequence or 0) + 101 + n:0{width}d}"
        out.append(
            _SERVICE.format(
                code=code,
                name=_str(d.title),
                abstract=_str(f"{system_name}的WebService操作{d.operation}（草稿）"),
                published=published.isoformat(),
                service=d.service,
                stem=d.stem,
                operation=d.operation,
                items=_str(d.items) if d.items else "None",
                rename=_dict({f.name: f.path for f in d.params if f.name != f.path}),
                fields=_dict({f.name: f.path for f in d.record if f.name != f.path}),
            )
        )
    answers = {d.operation: d.sample_answer for d in drafts}
    params = {d.service: {f.name: f.sample for f in d.params if f.required} for d in drafts}
    out.append(
        _TAIL.format(
            package=package,
            answers=_pretty(answers),
            params=_pretty(params),
            connector_class=connector_class,
        )
    )
    return "\n".join(out).rstrip() + "\n"


def write_draft(
    project: Path,
    answers: dict[str, Any],
    drafted: tuple[bytes, Sequence[DraftService]],
    *,
    today: date | None = None,
) -> None:
    """Add the drafted connector to a rendered ``soap`` project: ``vendor.wsdl``, the module
    ``wsdl_connector.py`` (a plugin of its own, registered as ``<name>_wsdl``), its conformance
    test, and the entry point. ``answers`` are the template's rendered answers, ``drafted`` what
    :func:`draft_services` read (before rendering, so a bad WSDL leaves no half project)."""
    source, drafts = drafted
    package = answers["__package_name"]
    (project / package / "vendor.wsdl").write_bytes(source)
    module = render_draft(
        drafts,
        package=package,
        connector_class=answers["__class_name"],
        connector_name=answers["connector_name"],
        resource_code=answers["resource_code"],
        system_name=answers["system_name"],
        published=today or date.today(),
    )
    (project / package / "wsdl_connector.py").write_text(module, encoding="utf-8")
    (project / "tests" / "test_wsdl_conformance.py").write_text(
        _TEST.format(package=package), encoding="utf-8"
    )
    pyproject = project / "pyproject.toml"
    plugin = f'{answers["connector_name"]} = "{package}"\n'
    text = pyproject.read_text(encoding="utf-8")
    if plugin not in text:
        raise ConfigurationError(f"{pyproject} has no entry point {plugin.strip()!r} to add to")
    extra = f'{answers["connector_name"]}_wsdl = "{package}.wsdl_connector"\n'
    pyproject.write_text(text.replace(plugin, plugin + extra, 1), encoding="utf-8")


_TEST = '''"""The standard conformance checks for the connector drafted from the vendor's WSDL."""

from govconnect.testing import conformance_tests

from {package}.wsdl_connector import conformance

TestWsdlConformance = conformance_tests(conformance)
'''


def _doc(text: str) -> str:
    return text.replace('"""', "'").replace("\\", "/")


def _str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dict(mapping: dict[str, str]) -> str:
    return "{" + ", ".join(f"{_str(k)}: {_str(v)}" for k, v in mapping.items()) + "}"


def _pretty(value: Any, indent: int = 0) -> str:
    """A literal in ruff's format: one key or item a line, trailing commas."""
    pad = "    " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{}"
        body = "".join(f"{pad}{_str(k)}: {_pretty(v, indent + 1)},\n" for k, v in value.items())
        return "{\n" + body + "    " * indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        body = "".join(f"{pad}{_pretty(v, indent + 1)},\n" for v in value)
        return "[\n" + body + "    " * indent + "]"
    if isinstance(value, str):
        return _str(value)
    return repr(value)


_DOCSTRING = '''"""A connector drafted from the vendor's WSDL (``vendor.wsdl``) by ``govconnect new connector
--from-wsdl``: a record and a query service per operation that answers records.

DRAFT — before the catalog is published, a person decides the resource codes, the sharing type and
its conditions, and confirms every suggested classification level and personal flag below.
"""'''


def _head(used: set[str], connector_class: str) -> str:
    """Docstring and imports, only of what the drafted types use (isort order, as ruff wants)."""
    stdlib = ["from collections.abc import Iterator"]
    dates = [n for n in ("date", "datetime") if n in used]
    if dates:
        stdlib.append(f"from datetime import {', '.join(dates)}")
    if "Decimal" in used:
        stdlib.append("from decimal import Decimal")
    stdlib += ["from pathlib import Path", "from typing import Any"]
    names = sorted(
        {"Connector", "Level", "Record", "field", "hookimpl", "query"} | (used & {"CitizenId"}),
        key=_isort_key,
    )
    local = ", ".join(sorted([connector_class, "Settings"], key=_isort_key))
    return "\n".join(
        [
            _DOCSTRING,
            "",
            "from __future__ import annotations",
            "",
            *stdlib,
            "",
            f"from govconnect import {', '.join(names)}",
            "from govconnect.soap import SoapClient, SoapSecurity",
            "from govconnect.testing import Conformance",
            "from pydantic import BaseModel, ConfigDict",
            "",
            f"from .connector import {local}",
            "",
            'WSDL = Path(__file__).with_name("vendor.wsdl")',
        ]
    )


def _isort_key(name: str) -> tuple[int, str]:
    """isort's order-by-type: CONSTANTS, then Classes, then functions."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


_CLASS = '''

class {connector_class}Wsdl(Connector):
    """The vendor's WebService, one service per operation that answers records."""

    name = "{connector_name}_wsdl"
    department = {connector_class}.department
    system = {connector_class}.system
    Settings = Settings

    def __init__(self, settings: Any = None) -> None:
        super().__init__(settings)
        s = self.settings
        security = SoapSecurity(s.username, s.password)
        self.soap = SoapClient(WSDL, endpoint=s.endpoint, security=security, timeout=s.timeout)

    def close(self) -> None:
        self.soap.close()'''

_SERVICE = """
    @query(
        code="{code}",  # DRAFT: the catalog authority assigns it
        name={name},
        abstract={abstract},
        sharing="conditional",  # DRAFT: a person decides
        conditions="草稿：共享条件由数据管理部门确定",
        update_cycle="real_time",
        published="{published}",
    )
    def {service}(self, params: {stem}Params) -> Iterator[{stem}Record]:
        return self.soap.records(
            "{operation}",
            params,
            {stem}Record,
            items={items},
            rename={rename},
            fields={fields},
        )"""

_TAIL = '''

SAMPLE_ANSWERS: dict[str, Any] = {answers}
"""What the SOAP fake answers per operation while the checks run (one drafted sample record)."""

SAMPLE_PARAMS: dict[str, Any] = {params}


def sample_legacy_system(folder: Path) -> Iterator[dict[str, str]]:
    """The vendor's WSDL served by govconnect's SOAP fake; yields connector settings."""
    from govconnect.testing import SoapLegacyFake

    fake = SoapLegacyFake(WSDL, SAMPLE_ANSWERS).start()
    try:
        yield {{"endpoint": fake.url}}
    finally:
        fake.stop()


conformance = Conformance(
    {connector_class}Wsdl,
    sample_params=SAMPLE_PARAMS,
    legacy=sample_legacy_system,
)


@hookimpl
def register_connectors() -> list[type[Connector]]:
    return [{connector_class}Wsdl]
'''
