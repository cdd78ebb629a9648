"""Multi-source cross-check (多源校核): the same data element held by several sources, compared.

One number, one source (一数一源): a data element (``field(..., element="姓名")``) has one
authoritative source per key type; the copies other departments hold drift from it. ``crosscheck``
streams every installed dataset that carries the key (citizen ID or credit code), spills the values
into a temporary SQLite index so no dataset is held in memory, and reports each element whose
normalised values differ between sources, saying which source is authoritative.

Back to the source: each conflict with an authoritative side becomes a correction notice for the
department whose copy differs, queued in the outbox and sent exactly once (``notices``).

Lives here: value normalisation (``normalise``); finding the sources, the SQLite-spilled join and
the report's counts (``engine``); the report, its conflicts kept on disk and streamed into the
``--json`` document (``report``); correction notices and queueing them (``notices``).

May import: the connector framework at the top of the package (connector, registry),
``govconnect.catalog``, ``govconnect.exchange`` (the outbox and the contract's constants) and the
core modules. Not ``bridge``, ``gateway``, ``publish``,
``testing`` or ``cli``: masking by the gateway's rules is injected by the caller (the CLI).
"""

from .engine import crosscheck
from .normalise import normalise
from .notices import NoticeSummary, correction_notices, notice_id, send_corrections
from .report import Conflict, ConflictLog, CrosscheckReport, Source, write_json

__all__ = [
    "Conflict",
    "ConflictLog",
    "CrosscheckReport",
    "NoticeSummary",
    "Source",
    "correction_notices",
    "crosscheck",
    "normalise",
    "notice_id",
    "send_corrections",
    "write_json",
]
