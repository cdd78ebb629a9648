"""Claiming and settling batches in the PostgreSQL outbox, inside the caller's transaction.

What a batch is, and the order rule, are the SQLite engine's (see ``claims``): consecutive rows of
one target, planned by the same :func:`~.claims.take_rows`; a target's batches cover its lowest
rows, up to its *frontier*. What differs is how many workers on many machines share the work:

* **Targets are locked, not the table.** A claim picks the due targets oldest first and locks
  their ``outbox_targets`` rows ``FOR UPDATE SKIP LOCKED``: two claims never plan the same target
  at once, and neither waits for the other. An enqueue locks its target's row plainly, so a
  target's rows are committed in id order with respect to its claims (a row committed late with a
  low id would otherwise fall below a frontier and be skipped).
* **One worker per target at a time.** A target with a batch leased to another worker, or
  waiting for its retry, is not claimed: its batches go out from one worker, in order, one
  request at a time (a worker's pipeline sends sequentially).
* **Fencing tokens.** Every claim and reclaim stamps the batch with the next value of the
  ``outbox_fence`` sequence. Settling (delivered, rescheduled, given back, buried) matches key and
  token: a worker whose lease ran out, and whose batch another worker reclaimed, settles nothing;
  the functions here report such a stale settle by returning False (or None), never raising.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from ..._exceptions import Problem
from .claims import Batch, live_state, read_rows, take_rows
from .dead_letters import dead_row

__all__ = ["bury", "claim", "prune_targets", "release", "reschedule", "settle_delivered"]

log = logging.getLogger("govconnect.exchange.outbox")

_DUE_TARGETS = """
SELECT t.operation, t.target FROM outbox_targets t
WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.operation = t.operation AND o.target = t.target)
  AND NOT EXISTS (
    SELECT 1 FROM outbox_batches b WHERE b.operation = t.operation AND b.target = t.target
      AND ((b.lease_until > %(now)s AND b.lease_owner <> %(owner)s)
           OR (coalesce(b.lease_until, 0) <= %(now)s AND b.next_attempt_at > %(now)s)))
ORDER BY (SELECT min(o.id) FROM outbox o WHERE o.operation = t.operation AND o.target = t.target)
LIMIT %(limit)s
"""
# Candidates only: each is then locked on its own (``_LOCK_TARGET``), when the claim reaches it,
# so a claim holds the locks of the targets it takes batches from and no others (locking all the
# candidates at once made every other worker's concurrent claim find nothing).

_LOCK_TARGET = (
    "SELECT 1 FROM outbox_targets WHERE operation = %s AND target = %s FOR UPDATE SKIP LOCKED"
)


def claim(
    conn: Any,
    owner: str,
    now: float,
    count: int,
    batch_size: int,
    lease: float,
    scan_limit: int = 0,
    held: Collection[str] | None = None,
) -> tuple[list[Batch], bool]:
    """Lease up to ``count`` due batches to ``owner``, each target's in order; and whether a key
    was fixed or reclaimed here (the commit must then be durable before anything is sent).
    ``scan_limit`` is the SQLite scan's and unused here (the same signature serves both).

    Targets are taken oldest first; of each, its live batches that are due (a retry, a dead
    worker's, one ``owner`` lost track of: not in ``held``) are reclaimed first, then new batches
    are planned from the rows above its frontier.
    """
    batches: list[Batch] = []
    fixed = False
    targets = conn.execute(
        _DUE_TARGETS, {"now": now, "owner": owner, "limit": max(count, 1) + 8}
    ).fetchall()
    enough = min(count, max(4, count // 4))
    for operation, target in targets:
        if len(batches) >= enough:
            # Enough to keep sending: leave the other targets to other workers (one worker
            # taking a little of every target would leave the others nothing to do).
            break
        if conn.execute(_LOCK_TARGET, (operation, target)).fetchone() is None:
            continue  # another worker is claiming from it right now, or enqueueing to it
        ask = _Ask(owner, now, batch_size, lease, held)
        got, new = _claim_target(conn, ask, count - len(batches), operation, target)
        batches += got
        fixed = fixed or new
    return batches, fixed


class _Ask(NamedTuple):
    """What a claim asks for, handed from :func:`claim` to :func:`_claim_target`."""

    owner: str
    now: float
    batch_size: int
    lease: float
    held: Collection[str] | None


def _claim_target(
    conn: Any, ask: _Ask, count: int, operation: str, target: str
) -> tuple[list[Batch], bool]:
    """Up to ``count`` batches of one locked target, in order (see :func:`claim`)."""
    owner, now, batch_size, lease, held = ask
    batches: list[Batch] = []
    fixed = False
    frontier = 0
    live = conn.execute(
        "SELECT key, first_id, last_id, user_id, case_id, next_attempt_at, lease_owner,"
        " lease_until, attempts, created_at FROM outbox_batches"
        " WHERE operation = %s AND target = %s ORDER BY first_id",
        (operation, target),
    ).fetchall()
    for key, first, last, user_id, case_id, due_at, lease_owner, until, attempts, created in live:
        frontier = max(frontier, last)
        state = live_state(key, lease_owner, until, due_at, now, owner, held)
        if state == "mine":
            continue
        if state == "blocked" or len(batches) >= count:
            return batches, fixed  # nothing later of this target may go before it
        (fence,) = conn.execute(
            "UPDATE outbox_batches SET lease_owner = %s, lease_until = %s,"
            " attempts = attempts + 1, fence = nextval('outbox_fence') WHERE key = %s"
            " RETURNING fence",
            (owner, now + lease, key),
        ).fetchone()
        ids, records, joined = read_rows(conn, operation, target, first, last)
        batches.append(
            Batch(
                key, operation, target, user_id, case_id, ids, joined, attempts + 1, created,
                owner, records, fence, now + lease,
            )
        )  # fmt: skip
        fixed = True  # its first claim may have committed without being flushed
    while len(batches) < count:
        rows = conn.execute(
            "SELECT id, records, user_id, case_id, created_at, batch_key FROM outbox"
            " WHERE operation = %s AND target = %s AND id > %s ORDER BY id LIMIT %s",
            (operation, target, frontier, batch_size),
        ).fetchall()
        if not rows:
            break
        head = rows[0]
        size = 1 if operation == "status" or head[5] is not None else batch_size
        ids, records, created = take_rows(rows, (None, None, None, head[2], head[3]), size)
        key = head[5] or uuid.uuid4().hex
        fixed = fixed or head[5] is None
        (fence,) = conn.execute(
            "INSERT INTO outbox_batches (key, operation, target, first_id, last_id, user_id,"
            " case_id, records, row_count, created_at, attempts, next_attempt_at, lease_owner,"
            " lease_until, fence) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, %s, %s,"
            " nextval('outbox_fence')) RETURNING fence",
            (key, operation, target, ids[0], ids[-1], head[2], head[3], records, len(ids),
             created, now, owner, now + lease),
        ).fetchone()  # fmt: skip
        joined = read_rows(conn, operation, target, ids[0], ids[-1])[2]
        batches.append(
            Batch(
                key, operation, target, head[2], head[3], ids, joined, 1, created, owner,
                records, fence, now + lease,
            )
        )  # fmt: skip
        frontier = ids[-1]
    return batches, fixed


def _stale(batch: Batch, what: str) -> None:
    log.warning(
        "stale %s of batch %s ignored: its lease (fence %d) ran out and another worker holds it",
        what,
        batch.key,
        batch.fence,
        extra={"message_id": batch.key, "fence": batch.fence},
    )


def _delete_rows(conn: Any, batch: Batch) -> None:
    conn.execute(
        "DELETE FROM outbox WHERE operation = %s AND target = %s AND id BETWEEN %s AND %s",
        (batch.operation, batch.target, *batch.span),
    )


def _take(conn: Any, batch: Batch) -> bool:
    """Remove the batch's live row if this claim (key and token) still holds it."""
    return bool(
        conn.execute(
            "DELETE FROM outbox_batches WHERE key = %s AND fence = %s", (batch.key, batch.fence)
        ).rowcount
    )


def settle_delivered(conn: Any, delivered: Sequence[tuple[Batch, bool]], now: float) -> set[str]:
    """The platform applied the batches: they leave the outbox, each leaving a line in
    ``outbox_delivered``. Returns the keys of the stale ones (fenced off: nothing recorded).
    Three statements for any number of batches (a pipelining worker settles runs of them)."""
    if not delivered:
        return set()
    taken = {
        key
        for (key,) in conn.execute(
            "DELETE FROM outbox_batches b USING unnest(%s::text[], %s::bigint[]) AS x(key, fence)"
            " WHERE b.key = x.key AND b.fence = x.fence RETURNING b.key",
            ([b.key for b, _ in delivered], [b.fence for b, _ in delivered]),
        )
    }
    stale = {batch.key for batch, _ in delivered} - taken
    for batch, _ in delivered:
        if batch.key in stale:
            _stale(batch, "delivery")
    done = [(batch, duplicate) for batch, duplicate in delivered if batch.key in taken]
    if done:
        conn.execute(
            "DELETE FROM outbox o USING unnest(%s::text[], %s::text[], %s::bigint[],"
            " %s::bigint[]) AS x(operation, target, first_id, last_id)"
            " WHERE o.operation = x.operation AND o.target = x.target"
            " AND o.id BETWEEN x.first_id AND x.last_id",
            [[b.operation for b, _ in done], [b.target for b, _ in done],
             [b.span[0] for b, _ in done], [b.span[1] for b, _ in done]],
        )  # fmt: skip
        conn.execute(
            "INSERT INTO outbox_delivered SELECT *, %s FROM unnest(%s::text[], %s::text[],"
            " %s::text[], %s::integer[], %s::bigint[], %s::bigint[], %s::integer[],"
            " %s::integer[]) ON CONFLICT DO NOTHING",
            [now, [b.key for b, _ in done], [b.operation for b, _ in done],
             [b.target for b, _ in done], [b.records for b, _ in done],
             [b.span[0] for b, _ in done], [b.span[1] for b, _ in done],
             [b.attempt for b, _ in done], [int(d) for _, d in done]],
        )  # fmt: skip
        prune_targets(conn, {(b.operation, b.target) for b, _ in done})
    return stale


_LOOKS_EMPTY = """
NOT EXISTS (SELECT 1 FROM outbox o WHERE o.operation = t.operation AND o.target = t.target)
AND NOT EXISTS (SELECT 1 FROM outbox_batches b WHERE b.operation = t.operation
                AND b.target = t.target)
"""


def prune_targets(conn: Any, targets: Collection[tuple[str, str]] | None = None) -> int:
    """Forget the ``outbox_targets`` rows of ``targets`` (None: of every target) that hold no
    rows and no batches, so the claims' candidate scan stays as small as the work: a case's
    status target is used once, and would otherwise stay forever. Returns how many went.

    Two statements, on purpose. The first locks the targets that look empty ``FOR UPDATE SKIP
    LOCKED``: one an enqueue or a claim holds right now is skipped (left for a later prune),
    never waited for. The second deletes those still empty, under a snapshot taken *after* the
    locks were granted, so it sees every row an enqueue committed before it let go of the
    target; an enqueue that comes later waits for this transaction, and its ``INSERT … ON
    CONFLICT`` then registers the target anew. Batches in flight keep their target (a stale
    worker's late settle is refused by its fence, not by the target's row).
    """
    if targets is None:
        locked = conn.execute(
            f"SELECT operation, target FROM outbox_targets t WHERE {_LOOKS_EMPTY}"
            " FOR UPDATE OF t SKIP LOCKED"
        ).fetchall()
    elif targets:
        locked = conn.execute(_LOCK_NAMED, _arrays(targets)).fetchall()
    else:
        return 0
    if not locked:
        return 0
    return int(conn.execute(_DELETE_NAMED, _arrays(locked)).rowcount)


_NAMED = (
    " FROM unnest(%s::text[], %s::text[]) AS x(operation, target) JOIN outbox_targets t"
    " ON t.operation = x.operation AND t.target = x.target"
)
# Joined from the names (an index lookup each), not ``t WHERE (…) IN (unnest …)``: the planner
# turned that into a scan of every target, doubling a status settle's cost.
_LOCK_NAMED = (
    f"SELECT t.operation, t.target {_NAMED} WHERE {_LOOKS_EMPTY} FOR UPDATE OF t SKIP LOCKED"
)
_DELETE_NAMED = (
    "DELETE FROM outbox_targets t USING unnest(%s::text[], %s::text[]) AS x(operation, target)"
    f" WHERE t.operation = x.operation AND t.target = x.target AND {_LOOKS_EMPTY}"
)


def _arrays(targets: Collection[tuple[str, str]]) -> tuple[list[str], list[str]]:
    listed = list(targets)
    return [o for o, _ in listed], [t for _, t in listed]


def reschedule(conn: Any, batch: Batch, due_at: float, error: str) -> bool:
    """Release the lease, due again at ``due_at`` (same key); False: stale, nothing changed."""
    done = conn.execute(
        "UPDATE outbox_batches SET lease_owner = NULL, lease_until = NULL,"
        " next_attempt_at = %s, last_error = %s WHERE key = %s AND fence = %s",
        (due_at, error[:2000], batch.key, batch.fence),
    ).rowcount
    if not done:
        _stale(batch, "retry")
    return bool(done)


def release(conn: Any, batch: Batch) -> bool:
    """Give a claimed batch back unsent (attempt not counted); False: stale, nothing changed."""
    return bool(
        conn.execute(
            "UPDATE outbox_batches SET lease_owner = NULL, lease_until = NULL,"
            " attempts = attempts - 1 WHERE key = %s AND fence = %s",
            (batch.key, batch.fence),
        ).rowcount
    )


def bury(
    conn: Any, batch: Batch, reason: str, problems: Sequence[Problem], now: float
) -> int | None:
    """Move the batch to dead letters; returns the dead letter's id (None: stale, fenced off)."""
    if not _take(conn, batch):
        _stale(batch, "dead-lettering")
        return None
    rows = conn.execute(
        "SELECT id, created_at, records, payload FROM outbox WHERE operation = %s"
        " AND target = %s AND id BETWEEN %s AND %s ORDER BY id",
        (batch.operation, batch.target, *batch.span),
    ).fetchall()
    (dead_id,) = conn.execute(
        "INSERT INTO outbox_dead (batch_key, operation, target, user_id, case_id, records,"
        " entries, attempts, dead_at, reason, problems)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        dead_row(batch, rows, reason, problems, now),
    ).fetchone()
    _delete_rows(conn, batch)
    return int(dead_id)
