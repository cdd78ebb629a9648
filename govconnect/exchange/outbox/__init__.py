"""The durable outbox: every outgoing exchange is committed to SQLite before anything is sent.

Lives here: the ``Outbox`` (``store``) and the claiming of its rows in batches (``claims``).
"""
