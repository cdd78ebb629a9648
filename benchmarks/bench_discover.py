"""Discovery of 300 tables x 30 columns with 1000-row samples on PostgreSQL, vs a bare loop.

Setup (not timed) creates a throwaway schema of ``--tables`` tables, each ``--columns`` columns
taken round-robin from the sample legacy schema's column kinds (citizen IDs, names, phones, dates
as text, code columns…) and ``--rows`` rows loaded with COPY, then ANALYZE so the row estimates are
the catalog's. Each side then runs in its own child process, so its peak RSS is its own:

- ``discover``: ``govconnect.discover(url, schema=..., sample=1000)`` — reflection, estimates,
  bounded samples, every detector on every column, the report;
- ``baseline``: a bare SQLAlchemy ``inspect()`` + ``get_columns`` + ``SELECT * LIMIT 1000``
  (rows fetched, nothing done with them) over the same tables.

Targets: discovery under 60 s and under 200 MB peak RSS; the ratio says what detection costs on
top of just reading the same rows.

    python benchmarks/bench_discover.py [--tables 300] [--columns 30] [--rows 1000] [--sample 1000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
import uuid
from typing import Any

import sqlalchemy as sa

from govconnect.testing import LEGACY_TABLES, ColumnSpec
from govconnect.testing._databases import SERVER_URLS

URL = SERVER_URLS["postgresql"]


def column_kinds() -> list[ColumnSpec]:
    return [c for t in LEGACY_TABLES for c in t.columns if not isinstance(c.type, sa.LargeBinary)]


def table_columns(index: int, width: int, kinds: list[ColumnSpec]) -> list[ColumnSpec]:
    start = (index * 7) % len(kinds)
    picked = [kinds[(start + k) % len(kinds)] for k in range(width)]
    seen: dict[str, int] = {}
    out = []
    for spec in picked:
        n = seen.get(spec.name.lower(), 0)
        seen[spec.name.lower()] = n + 1
        name = spec.name.lower() if n == 0 else f"{spec.name.lower()}_{n}"
        out.append(
            ColumnSpec(name, spec.type, spec.gen, spec.comment, spec.personal, spec.identity)
        )
    return out


def setup(schema: str, tables: int, width: int, rows: int) -> None:
    engine = sa.create_engine(URL)
    kinds = column_kinds()
    md = sa.MetaData(schema=schema)
    shapes: dict[int, list[list[Any]]] = {}
    with engine.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    for i in range(tables):
        cols = table_columns(i, width, kinds)
        table = sa.Table(
            f"t{i:03d}_xx", md, *(sa.Column(c.name, c.type, comment=c.comment) for c in cols)
        )
        table.create(engine)
        shape = (i * 7) % len(kinds)
        if shape not in shapes:  # generate each column arrangement once, copy it into many tables
            rng = random.Random(shape)
            shapes[shape] = [[c.gen(rng, r) for c in cols] for r in range(rows)]
        raw = engine.raw_connection()
        try:
            with (
                raw.cursor() as cur,
                cur.copy(f'COPY "{schema}"."{table.name}" FROM STDIN') as copy,
            ):  # type: ignore[attr-defined]
                for row in shapes[shape]:
                    copy.write_row(row)
            raw.commit()
        finally:
            raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def drop(schema: str) -> None:
    engine = sa.create_engine(URL)
    with engine.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


def run_discover(schema: str, sample: int) -> dict[str, Any]:
    from govconnect import discover, load_registry

    registry = load_registry()
    started = time.perf_counter()
    report = discover(URL, schema=schema, sample=sample, registry=registry)
    elapsed = time.perf_counter() - started
    assert not report.failed, report.failed[0].error
    columns = sum(len(t.columns) for t in report.tables)
    personal = sum(c.personal for t in report.tables for c in t.columns)
    return {
        "seconds": elapsed,
        "tables": len(report.tables),
        "columns": columns,
        "personal": personal,
    }


def run_baseline(schema: str, sample: int) -> dict[str, Any]:
    engine = sa.create_engine(URL)
    started = time.perf_counter()
    rows = 0
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        names = inspector.get_table_names(schema=schema)
        for name in names:
            cols = [c["name"] for c in inspector.get_columns(name, schema=schema)]
            table = sa.table(name, *(sa.column(c) for c in cols), schema=schema)
            rows += len(conn.execute(sa.select(table).limit(sample)).all())
    elapsed = time.perf_counter() - started
    engine.dispose()
    return {"seconds": elapsed, "tables": len(names), "rows": rows}


def peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM`` is per address space; ``ru_maxrss`` on Linux keeps the
    parent's high-water mark across fork + exec, so it would report the setup's memory."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(side: str, schema: str, sample: int) -> None:
    cpu = time.process_time()
    result = (run_discover if side == "discover" else run_baseline)(schema, sample)
    result["cpu_seconds"] = time.process_time() - cpu  # steadier than wall time on a busy machine
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))


def measure(side: str, schema: str, sample: int) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", side, "--schema", schema, "--sample", str(sample)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--child", choices=["discover", "baseline"])
    parser.add_argument("--schema")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.schema, args.sample)
        return
    schema = f"bench_discover_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    setup(schema, args.tables, args.columns, args.rows)
    print(
        f"setup: {args.tables} tables x {args.columns} columns x {args.rows} rows in {time.perf_counter() - started:.1f} s"
    )
    try:
        base = measure("baseline", schema, args.sample)
        disc = measure("discover", schema, args.sample)
    finally:
        drop(schema)
    print(
        f"baseline (inspect + SELECT LIMIT {args.sample}): {base['seconds']:.2f} s ({base['cpu_seconds']:.2f} s CPU), peak RSS {base['peak_rss_mb']:.0f} MB, {base['rows']} rows"
    )
    print(
        f"discover: {disc['seconds']:.2f} s (target < 60; {disc['cpu_seconds']:.2f} s CPU), peak RSS {disc['peak_rss_mb']:.0f} MB (target < 200), "
        f"{disc['tables']} tables, {disc['columns']} columns, {disc['personal']} suggested personal"
    )
    print(
        f"ratio discover/baseline: {disc['seconds'] / base['seconds']:.2f}x time, "
        f"{disc['cpu_seconds'] / base['cpu_seconds']:.2f}x CPU, "
        f"{disc['peak_rss_mb'] / base['peak_rss_mb']:.2f}x peak RSS"
    )


if __name__ == "__main__":
    main()
