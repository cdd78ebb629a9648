"""The durable outbox: every outgoing exchange is committed (to SQLite, or PostgreSQL) before it is sent.

Records enqueued together are stored in chunks of up to ``batch_size`` records, one row each in
``outbox`` (a case status change is a row of its own): committing 100k records writes 200 rows, not
100k, and the delivery worker reads and deletes one row per request instead of 500. The worker
claims rows in batches inside ``BEGIN IMMEDIATE`` transactions, so several threads or processes can
drain one file without sending a row twice at once. A batch gets its idempotency key when it is first claimed and
keeps it for every retry, every crash and every replay: the platform refuses a re-send as a
duplicate, which makes delivery exactly-once at the platform.

Rows for one target (a resource, or a case's statuses) are delivered in enqueue order: while a batch
of a target is in flight or waiting for its retry, later rows of that target wait too, so an older
upsert never overtakes a newer delete, nor ``completed`` overtake ``accepted``.

Delivered rows leave ``outbox`` and leave one line per batch in ``outbox_delivered``; batches that
failed for good move to ``outbox_dead`` with the reason, to be inspected and replayed.

The same outbox lives in PostgreSQL when ``Outbox`` is given a ``postgresql://`` URL: a
``PostgresOutbox`` (``postgres``: connections, LISTEN/NOTIFY; ``pg_schema``: tables in a schema of
their own, the URL without its password; ``pg_claims``: claims that lock targets ``FOR UPDATE SKIP
LOCKED``, settles checked against fencing tokens, targets pruned once empty; ``pg_joined``: the
outbox written on a legacy database's own connection, in its transaction, when that database
holds the outbox), for many workers on many machines.

Lives here: the ``Outbox`` that users hold, and its enqueue (``store``); the SQLite file's
connections and transactions (``connections``); the tables and the migration of older files
(``schema``); records checked and encoded into chunk rows (``chunks``); claiming batches, their
leases and settling them (``claims``); dead letters (``dead_letters``); and what the outbox holds
(``status``); SQL that runs on both engines, for the state other modules keep beside the outbox
(``portable``: the intake journal and the publishing state, written in the outbox's transactions);
whether an outbox exists at a location, asked without creating one (``presence``: for watchers).
Only ``store`` and ``connections`` open transactions; the other modules are functions of a
connection that work inside the transaction they are given.
"""
