"""What a case filed at the unified intake platform is, and how it is written into a legacy system.

Lives here: the case model (``case``) and how its applicant was authenticated at the one
window (``auth``: the level scale, the per-matter minimum), mapping expressions from form fields
to legacy targets (``mapping``), the sinks that write them (database, file drop, API: ``sinks``)
and the ``@intake`` handler declaration a connector uses to bind a matter to a sink
(``handlers``). This is the vocabulary of intake; the bridge that runs it against the platform
lives in ``govconnect.bridge``.

May import: ``govconnect.catalog`` and the core modules. Not the connector declaration, which
builds on this package (a connector collects its ``@intake`` handlers from here).
"""
