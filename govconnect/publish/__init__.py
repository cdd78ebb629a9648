"""Publishing datasets to the exchange platform, in full or incrementally.

Lives here: the publisher (``publisher``) and one run of a dataset with its reject threshold
(``run``); its memory in the outbox's store — bookmarks, fingerprints, dataset sizes — and the
per-run duplicate-key set (``state``); the rejects file and the memory of rejected records
(``rejects``); parallel publishing: key ranges and their bookmarks (``partitions``) and the
worker processes (``workers``).

May import: the connector framework at the top of the package (connector, registry),
``govconnect.exchange``, ``govconnect.catalog`` and the core modules. Not ``bridge``,
``gateway``, ``testing`` or ``cli``.
"""
