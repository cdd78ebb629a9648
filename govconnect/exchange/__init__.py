"""Getting records and events to the exchange platform reliably, exactly once.

Lives here: the platform contract's constants (``platform``), the HTTP exchange client
(``client``) with its bounds on answers (``bounded``: deadline and size; ``answers``: the
documented shapes), the retry policy (``retry``), exchange events and their observers (``events``,
``observers``), the durable outbox (the ``outbox`` subpackage) and the delivery worker that
drains it (the ``delivery`` subpackage).

May import: the core modules at the top of the package (``govconnect._exceptions``,
``govconnect._validation``) and nothing else of govconnect; it knows nothing of connectors.
"""
