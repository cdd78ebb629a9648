"""Multi-source cross-check (多源校核): the same data element held by several sources, compared.

One number, one source (一数一源): a data element (``field(..., element="姓名")``) has one
authoritative source per key type; the copies other departments hold drift from it. ``crosscheck``
streams every installed dataset that carries the key (citizen ID or credit code), spills the values
into a temporary SQLite index so no dataset is held in memory, and reports each element whose
normalised values differ between sources, saying which source is authoritative.

Layer 4 (beside ``publish`` and ``gateway``): imports the framework and below only. Masking by the
gateway's rules is injected by the caller (the CLI), since ``gateway`` is a sibling.
"""

from .engine import Conflict, CrosscheckReport, Source, crosscheck
from .normalise import normalise

__all__ = ["Conflict", "CrosscheckReport", "Source", "crosscheck", "normalise"]
