"""Publishing datasets to the exchange platform, in full or incrementally.

Lives here: the publisher, its bookmarks and fingerprints and its reject threshold
(``publisher``).

May import: the connector framework at the top of the package (connector, registry),
``govconnect.exchange``, ``govconnect.catalog`` and the core modules. Not ``bridge``,
``gateway``, ``testing`` or ``cli``.
"""
