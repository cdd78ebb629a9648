"""Cross-check of N keys held by 3 sources: seconds and peak RSS, flat in N, against bare sqlite3.

The three sources are connectors whose datasets generate their records on the fly (nothing is
held in memory by the sources themselves), so the RSS measured is the cross-check's own. Each
source holds name and birth date; 1 in 100 keys has a planted name conflict and 1 in 100 a birth
date conflict, and the report must find exactly those. Each measurement runs in a fresh
subprocess so its peak RSS (``ru_maxrss``) is its own:

1. govconnect: ``crosscheck(registry, key="citizen_id")`` — records validated into their models,
   values normalised, spilled into the temporary SQLite index, joined and compared;
2. baseline: the same generated values inserted with bare ``sqlite3`` into one table per source
   and joined by key with one ``SELECT`` counting differing values (no validation, no
   normalisation, no report).

    python benchmarks/bench_crosscheck.py [--sizes 250000,1000000] [--no-conflicts] [--every K]

``--no-conflicts`` plants none. ``--every K`` plants the conflicts in one key in ``K`` per kind
(default 100; ``--every 4`` makes every key a conflict): the report keeps its conflicts in the
temporary SQLite index and streams them into the ``--json`` document (written to ``/dev/null``
here, as the CLI writes it), so the peak RSS stays flat however many conflicts there are.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from govconnect import (
    CitizenId,
    Connector,
    Department,
    LegacySystem,
    Record,
    dataset,
    field,
    hookimpl,
    load_registry,
)
from govconnect.catalog.identity.checks import citizen_id_check_char
from govconnect.crosscheck import crosscheck, write_json

SURNAMES = "张王李赵刘陈杨黄周吴"
GIVEN = "伟芳娜敏静丽强磊军洋"
BASE = date(1950, 1, 1)


def person(i: int) -> tuple[str, str, date]:
    born = BASE + timedelta(days=i // 1000)
    first17 = f"110105{born:%Y%m%d}{i % 1000:03d}"
    name = SURNAMES[i % 10] + GIVEN[(i // 10) % 10] + GIVEN[(i // 100) % 10]
    return first17 + citizen_id_check_char(first17), name, born


PLANT = True
EVERY = 100


def generate(n: int, source: int) -> Iterator[tuple[str, str, str]]:
    """Source 0 is the truth; source ``s`` > 0 differs in the name of keys ``i % EVERY == s``
    and in the birth date of keys ``i % EVERY == EVERY // 2 + s``, and spells dates its own
    way."""
    for i in range(n):
        cid, name, born = person(i)
        if PLANT and source and i % EVERY == source:
            name += "某"
        if PLANT and source and i % EVERY == (EVERY // 2 + source) % EVERY:
            born += timedelta(days=1)
        text = born.isoformat() if source != 2 else f"{born.year}年{born.month}月{born.day}日"
        yield cid, name, text


class Row(Record):
    citizen_id: CitizenId = field("公民身份号码", level="sensitive", personal=True)
    name: str = field("姓名", level="sensitive", personal=True, element="姓名")
    born: str = field("出生日期", level="sensitive", personal=True, element="出生日期")


def _connector(index: int, n: int) -> type[Connector]:
    class Source(Connector):
        name = f"bench{index}"
        department = Department(code=f"1101050000{index}", name=f"部门{index}")
        system = LegacySystem(code=f"S{index}", name=f"系统{index}")

        @dataset(
            code=f"111112001/80{index:02d}",
            name="人员",
            abstract="人员",
            sharing="unconditional",
            update_cycle="daily",
            published="2026-01-01",
            key="citizen_id",
            authoritative=["姓名", "出生日期"] if index == 0 else [],
        )
        def people(self) -> Iterator[Row]:
            for cid, name, born in generate(n, index):
                yield {"citizen_id": cid, "name": name, "born": born}  # type: ignore[misc]

    return Source


class Plugin:
    def __init__(self, n: int) -> None:
        self.n = n

    @hookimpl
    def register_connectors(self) -> list[type[Connector]]:
        return [_connector(i, self.n) for i in range(3)]


def run_govconnect(n: int) -> dict[str, Any]:
    registry = load_registry(plugins=[Plugin(n)], entry_points=False, config={})
    start = time.perf_counter()
    report = crosscheck(registry, key="citizen_id")
    with open(os.devnull, "w", encoding="utf-8") as out:
        write_json(report, out)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "conflicts": report.conflicts_total, **report.conflicts_by_element}


def run_baseline(n: int) -> dict[str, Any]:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(Path(tmp) / "bare.sqlite")
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        for s in range(3):
            db.execute(f"CREATE TABLE s{s} (key TEXT PRIMARY KEY, name TEXT, born TEXT)")
            db.executemany(f"INSERT INTO s{s} VALUES (?, ?, ?)", generate(n, s))
        names = db.execute(
            "SELECT COUNT(*) FROM s0 JOIN s1 USING (key) JOIN s2 USING (key) "
            "WHERE s0.name <> s1.name OR s0.name <> s2.name"
        ).fetchone()[0]
        db.close()
    return {"seconds": time.perf_counter() - start, "name_conflicts": names}


def child(kind: str, n: int) -> None:
    result = run_govconnect(n) if kind == "govconnect" else run_baseline(n)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250000,1000000")
    parser.add_argument("--no-conflicts", action="store_true", help="plant no conflicts")
    parser.add_argument("--every", type=int, default=100, help="one key in K conflicts (K >= 4)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    global PLANT, EVERY
    PLANT = not args.no_conflicts
    EVERY = max(args.every, 4)
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    for n in (int(s) for s in args.sizes.split(",")):
        # 2 differing sources x 2 elements, one key in EVERY each
        residues = (1, 2, (EVERY // 2 + 1) % EVERY, (EVERY // 2 + 2) % EVERY)
        expected = sum((n - r + EVERY - 1) // EVERY for r in residues) if PLANT else 0
        for kind in ("govconnect", "baseline"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind, str(n), "--every", str(EVERY)]
                + (["--no-conflicts"] if args.no_conflicts else []),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            result = json.loads(out)
            print(f"N={n:>9,} {kind:<10} {json.dumps(result, ensure_ascii=False)}", flush=True)
            if kind == "govconnect":
                assert result["conflicts"] == expected, (result, expected)


if __name__ == "__main__":
    main()
