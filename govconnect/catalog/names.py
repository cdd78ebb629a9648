"""Python names for legacy names: what a drafted record field or service is called.

Discovery, ``--from-db``, ``--from-layout`` and ``--from-wsdl`` all turn a legacy system's own
names (``GMSFHM``, ``Sqr-Xm``, ``2023年度``, a WSDL element ``copy``) into Python identifiers. One
rule serves them all so a name that works for one generator works for every one: lower case,
``_`` for anything else, never a keyword, never an attribute pydantic models already have (a
field called ``copy`` or ``json`` would shadow the model's method), unique among its siblings.
"""

from __future__ import annotations

import keyword
import re

from pydantic import BaseModel

__all__ = ["identifier"]

_RESERVED = frozenset(dir(BaseModel)) | {"self", "params", "settings"}


def identifier(raw: str, taken: set[str], fallback: str) -> str:
    """A Python identifier for a legacy name: lower case, ``_`` for anything else, never a
    keyword or a pydantic attribute, unique within ``taken`` (which it joins)."""
    name = re.sub(r"\W", "_", raw.strip().lower(), flags=re.ASCII).strip("_")
    name = re.sub(r"_+", "_", name)
    if not name or not re.search(r"[a-z]", name):
        name = fallback
    if name[0].isdigit():
        name = f"c_{name}"
    if keyword.iskeyword(name) or name in _RESERVED or name.startswith("model_"):
        name = f"{name}_"
    base, n = name, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name
