"""Discovery: compile the catalog from the legacy system itself (issue 12).

``discover(url)`` reflects a database read-only, samples a bounded number of rows per table and
suggests, per column, a title, a catalog data type, an identity type, a code table, a personal flag
and a classification level — each with a reason that carries counts, never values. The result is
a :class:`DiscoveryReport` that people read (``govconnect discover sql``) and generators consume.
:func:`drift` compares it with a catalog (the catalog's "dynamic update", 动态更新).

Lives here: the abbreviation dictionary (``dictionary``), the value detectors (``detectors``),
declared SQL types as catalog codes (``sqltypes``), read-only bounded sampling per dialect
(``sampling``), the policy that turns findings into suggestions (``classify``), the report
(``model``), ``discover`` itself (``discover``), schema drift (``drift``) and the built-in plugin
that registers the dictionary and detectors through the hooks (``plugin``).

May import: ``govconnect.catalog``, the connector framework at the top of the package (registry,
plugins, hookspecs, export, connector) and the core modules. Not ``bridge``, ``gateway``,
``publish``, ``testing`` or ``cli`` (those may import discovery).
"""

from __future__ import annotations

from .classify import Toolkit
from .detectors import BUILTIN_DETECTORS, ColumnEvidence, Detector, Finding, PatternDetector
from .dictionary import BUILTIN_TERMS, Dictionary, Term
from .discover import DEFAULT_SAMPLE, discover, safe_url, toolkit
from .drift import Drift, drift
from .model import COLUMN_KEYS, TABLE_KEYS, ColumnReport, DiscoveryReport, TableReport

__all__ = [
    "BUILTIN_DETECTORS",
    "BUILTIN_TERMS",
    "COLUMN_KEYS",
    "DEFAULT_SAMPLE",
    "TABLE_KEYS",
    "ColumnEvidence",
    "ColumnReport",
    "Detector",
    "Dictionary",
    "DiscoveryReport",
    "Drift",
    "Finding",
    "PatternDetector",
    "TableReport",
    "Term",
    "Toolkit",
    "discover",
    "drift",
    "safe_url",
    "toolkit",
]
