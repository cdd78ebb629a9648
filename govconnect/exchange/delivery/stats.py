"""What a drain did: the counts a delivery worker reports (``DeliveryStats``)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DeliveryStats"]


@dataclass(slots=True)
class DeliveryStats:
    """What a drain did; ``records_delivered`` counts records of batches the platform accepted."""

    batches_delivered: int = 0
    records_delivered: int = 0
    duplicates: int = 0
    retries: int = 0
    dead_lettered: int = 0
    records_dead: int = 0
    stale: int = 0
    """Settles refused by a fencing token (PostgreSQL): this worker's lease had run out and
    another worker held the batch, so nothing was recorded for it here."""
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def merge(self, other: DeliveryStats) -> None:
        for name in (
            "batches_delivered",
            "records_delivered",
            "duplicates",
            "retries",
            "dead_lettered",
            "records_dead",
            "stale",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for key, count in other.errors.items():
            self.errors[key] = self.errors.get(key, 0) + count
