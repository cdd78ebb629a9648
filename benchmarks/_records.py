"""The records the outbox and delivery benchmarks move: the same 100k-row shape on both sides."""

from __future__ import annotations

from typing import Any


def make_records(n: int) -> list[dict[str, Any]]:
    """``n`` small resident-like records (about 80 bytes of JSON each), Chinese names included."""
    return [
        {
            "id": i,
            "name": f"居民{i}",
            "district": "110105",
            "household": f"H{i // 4:07d}",
            "updated": "2026-11-21T08:00:00+08:00",
        }
        for i in range(n)
    ]
