"""The package's shape: capability subpackages, imports flowing one way, small modules, a true map.

The layers, lowest first (docs/architecture.md draws them). A module may import its own unit and
any unit of a lower layer; two units of the same layer never import each other, so subpackages
form no cycle. Every import counts, including those under ``TYPE_CHECKING`` and inside functions:
a type-only back-reference is still a cycle for a reader and for a type checker.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "govconnect"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

#: unit -> layer. A unit is a subpackage, or a named group of top-level modules.
LAYERS: dict[str, int] = {
    "core": 0,
    "catalog": 1,
    "exchange": 1,
    "cases": 2,
    "framework": 3,
    "bridge": 4,
    "gateway": 4,
    "publish": 4,
    "discovery": 4,
    "soap": 4,
    "crosscheck": 4,
    "testing": 5,
    "cli": 6,
    "api": 7,
}
TOP_LEVEL: dict[str, str] = {
    "_exceptions": "core",
    "_validation": "core",
    "_config": "core",
    "_connector": "framework",
    "_service_declaration": "framework",
    "_plugins": "framework",
    "_default_plugins": "framework",
    "_registry": "framework",
    "_export": "framework",
    "hookspecs": "framework",
    "__init__": "api",
    "__main__": "cli",
}
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    parts = module.split(".")
    assert parts[0] == "govconnect", module
    if len(parts) == 1:
        return "api"
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    assert parts[1] in TOP_LEVEL, f"top-level module {module} has no place in TOP_LEVEL"
    return TOP_LEVEL[parts[1]]


def _ours(module: str) -> bool:
    return module == "govconnect" or module.startswith("govconnect.")


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every govconnect module ``path`` imports, resolved to absolute names, with line numbers."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _ours(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not _ours(target):
                continue
            for alias in node.names:  # `from . import hookspecs` imports a module, not the package
                sub = f"{target}.{alias.name}"
                is_module = (ROOT / sub.replace(".", "/")).with_suffix(".py").exists() or (
                    ROOT / sub.replace(".", "/")
                ).is_dir()
                found.append((node.lineno, sub if is_module else target))
    return found


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_templates" not in p.parts)


def test_every_subpackage_has_a_layer() -> None:
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert subpackages <= set(LAYERS), f"give these a layer: {subpackages - set(LAYERS)}"


def test_imports_flow_one_way() -> None:
    violations = []
    for path in _sources():
        source_unit = _unit(_module_name(path))
        for line, target in _imports(path):
            target_unit = _unit(target)
            if target_unit == source_unit:
                continue
            if LAYERS[target_unit] >= LAYERS[source_unit]:
                violations.append(
                    f"{path.relative_to(ROOT)}:{line} imports {target} "
                    f"({source_unit}, layer {LAYERS[source_unit]} -> "
                    f"{target_unit}, layer {LAYERS[target_unit]})"
                )
    assert not violations, "\n".join(violations)


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in _sources()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"split by responsibility: {long}"


def test_every_subpackage_says_what_lives_there_and_what_it_may_import() -> None:
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
        assert doc, f"{init.relative_to(ROOT)} has no docstring"
        if init.parent.name not in {"testing", "cli"}:
            assert "May import" in doc, f"{init.relative_to(ROOT)} does not say what it may import"


def test_the_architecture_page_matches_the_tree() -> None:
    page = ARCHITECTURE.read_text(encoding="utf-8")
    for init in PACKAGE.glob("*/__init__.py"):
        assert f"govconnect/{init.parent.name}/" in page, f"{init.parent.name}/ is not on the map"
    named = set(re.findall(r"`(govconnect/[\w/]+(?:\.py)?)`", page))
    assert named, "the page names no modules"
    missing = sorted(n for n in named if not (ROOT / n).exists())
    assert not missing, f"the page names modules that do not exist: {missing}"


def test_the_checker_sees_what_it_should() -> None:
    """The rule above is only as good as the import resolution under it."""
    client = PACKAGE / "exchange" / "client.py"
    assert "govconnect.exchange.platform" in {t for _, t in _imports(client)}
    plugins = {t for _, t in _imports(PACKAGE / "_plugins.py")}
    assert "govconnect.hookspecs" in plugins
    assert _unit("govconnect.gateway.policy") == "gateway"
    assert _unit("govconnect._connector") == "framework"
    assert _unit("govconnect") == "api"
