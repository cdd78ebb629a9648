"""One publication of a dataset at a time: the per-dataset run lock.

Two runs of one dataset at once (a cron job overlapping the previous one, an operator's manual
run) would share its bookmark, fingerprints and key-range plan: a run re-cutting the plan under
another's workers moves bookmarks onto ranges they never read (an incremental gap), and two
fingerprinting runs see each other's records as unseen (tombstones for live records). So every
publication, with one worker or many, holds this lock for the whole run, and a second one is
refused with an error naming the dataset and since when the first holds it.

The lock dies with its holder, so a run killed with SIGKILL never blocks the next forever:

- PostgreSQL: a session advisory lock on a connection of its own (the server drops it when the
  connection ends, also when the process is killed);
- SQLite: ``flock`` on a file beside the outbox, one per dataset (the kernel drops it when the
  last process holding the file ends). Forked workers inherit both, so a range still running
  after its parent was killed keeps the dataset locked until it ends too.

Who holds it and since when is written to ``publish_locks`` for the refusal to show.
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from .._exceptions import PublishRunningError
from ..exchange.outbox.portable import execute
from ..exchange.outbox.store import Outbox

try:
    import fcntl
except ImportError:  # Windows: no flock; the SQLite outbox then has no run lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["run_lock"]


def lock_file(outbox: Outbox, code: str) -> Path:
    """The file a SQLite outbox's publications of ``code`` lock (beside the outbox)."""
    folder = Path(f"{outbox.path}.publish-locks")
    return folder / f"{re.sub(r'[^0-9A-Za-z._-]', '-', code)}.lock"


def _refused(outbox: Outbox, code: str) -> PublishRunningError:
    rows = outbox.read("SELECT holder, since FROM publish_locks WHERE resource = ?", (code,))
    if rows:
        holder, since = rows[0]
        moment = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(since)))
        when = f"since {moment}, {holder}"
    else:
        when = "since a moment ago"
    return PublishRunningError(
        f"another publish of {code} is running ({when}): one publication of a dataset at a"
        " time; this one was not started — run it again when the other has ended"
    )


def _note_holder(outbox: Outbox, code: str) -> None:
    holder = f"process {os.getpid()} on {socket.gethostname()}"

    def write(conn: Any) -> None:
        execute(
            conn,
            "INSERT INTO publish_locks VALUES (?, ?, ?) ON CONFLICT (resource)"
            " DO UPDATE SET holder = excluded.holder, since = excluded.since",
            (code, holder, time.time()),
        )

    outbox.write_state(write)


def _forget_holder(outbox: Outbox, code: str) -> None:
    outbox.write_state(
        lambda conn: execute(conn, "DELETE FROM publish_locks WHERE resource = ?", (code,))
    )


@contextmanager
def _pg_lock(outbox: Outbox, code: str) -> Iterator[None]:
    conn = outbox._connect()  # type: ignore[attr-defined]  # a session of the lock's own
    try:
        key = f"{outbox.schema}.publish:{code}"  # type: ignore[attr-defined]
        (got,) = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
        if not got:
            raise _refused(outbox, code)
        yield
    finally:
        conn.close()  # ends the session, and with it the lock


@contextmanager
def _file_lock(outbox: Outbox, code: str) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    path = lock_file(outbox, code)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refused(outbox, code) from None
        yield
    finally:
        os.close(fd)  # the last descriptor of the file closed: the lock is released


@contextmanager
def run_lock(outbox: Outbox, code: str) -> Iterator[None]:
    """Hold the run lock of dataset ``code`` in ``outbox``'s store for the block, or raise a
    :class:`PublishRunningError` saying another publication of it is running."""
    with (_file_lock if outbox.is_file else _pg_lock)(outbox, code):
        _note_holder(outbox, code)
        try:
            yield
        finally:
            with suppress(Exception):  # the lock itself ends anyway; the note is only a note
                _forget_holder(outbox, code)
