"""Observers of exchange events: the ``exchange_event`` hook and an optional callback.

Shared by the outbox (``enqueued``, ``replayed``) and the delivery worker (``sent``, ``retried``,
``delivered``, ``dead_lettered``). Observation never breaks delivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from .events import ExchangeEvent

__all__ = ["Observers"]

log = logging.getLogger("govconnect.exchange.outbox")


class Observers:
    """Delivers exchange events to the ``exchange_event`` hook and/or a callback.

    Each hook implementation is called on its own, so one that raises neither stops the others nor
    delivery: the exception is logged and swallowed.
    """

    def __init__(self, pm: Any = None, callback: Callable[[ExchangeEvent], None] | None = None):
        self.pm = pm
        self.callback = callback

    def emit(self, event: ExchangeEvent) -> None:
        if log.isEnabledFor(logging.INFO):  # the extra fields cost more than the check
            self._log(event)
        if self.pm is not None:
            for impl in self.pm.hook.exchange_event.get_hookimpls():
                self._call(impl.plugin_name, impl.function, impl.argnames, event)
        if self.callback is not None:
            self._call("callback", self.callback, None, event)

    @staticmethod
    def _log(event: ExchangeEvent) -> None:
        log.info(
            "exchange %s %s",
            event.kind.value,
            event.message_id,
            extra={
                "event": event.kind.value,
                "message_id": event.message_id,
                "operation": event.operation,
                "resource_code": event.resource_code,
                "case_id": event.case_id,
                "attempt": event.attempt,
                "records": event.records,
            },
        )

    @staticmethod
    def _call(
        name: str, fn: Callable[..., Any], argnames: Sequence[str] | None, event: Any
    ) -> None:
        try:
            if argnames is None:
                fn(event)
            else:
                fn(**({"event": event} if "event" in argnames else {}))
        except Exception:
            log.exception("exchange_event observer %s failed; ignored", name)
