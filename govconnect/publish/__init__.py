"""Publishing datasets to the exchange platform, in full or incrementally.

Lives here: the publisher and its reject threshold (``publisher``); its memory in the outbox's
SQLite file — bookmarks, fingerprints, dataset sizes — and the per-run duplicate-key set
(``state``); the rejects file and the memory of rejected records (``rejects``).

May import: the connector framework at the top of the package (connector, registry),
``govconnect.exchange``, ``govconnect.catalog`` and the core modules. Not ``bridge``,
``gateway``, ``testing`` or ``cli``.
"""
