"""The delivery worker: drains the outbox to the platform, one leased batch at a time.

Each attempt is recorded in the outbox before the request goes out (attempt count, lease), and its
outcome after: delivered (the batch leaves the outbox), retried later (next attempt time and last
error, from the :class:`RetryPolicy`, ``Retry-After`` honoured), or dead-lettered (a 4xx with the
platform's problems, or the policy's deadline or attempt limit reached). Because the batch's
idempotency key is fixed at its first claim, a re-send after a crash or a lost response is refused
by the platform as a duplicate: at-least-once on the wire, exactly-once at the platform.

Several workers — threads sharing one :class:`Outbox`, or processes opening the same file — can drain
one outbox; each claims under ``BEGIN IMMEDIATE`` with a lease, so no batch is in flight twice
unless a lease expired (and then the duplicate is refused by key).

Lives here: the worker and its drain loops (``worker``), the pipeline it runs (``pipeline``), one
attempt at a batch (``attempt``), settling outcomes in the outbox (``settling``) and what a drain
did (``stats``).
"""
