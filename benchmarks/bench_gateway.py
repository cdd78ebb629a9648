"""Gateway overhead: the household ``resident`` lookup through the gateway vs a bare endpoint.

Both servers are single-process uvicorn on loopback, both call the same ``HouseholdConnector`` on
the same SQLite database (so the rows and the SQL are identical), both run the lookup in a worker
thread. The gateway adds what it exists for: bearer-token authentication, the grant and purpose
check, parameter validation, field withholding and masking, the SM3 request hash and a committed,
hash-chained audit record per call. The bare endpoint returns the records as JSON, nothing else.

The same load generator drives both: ``wrk`` when installed (``apt-get install wrk``), else an
asyncio httpx client pool. IDs rotate over a sample of residents. Prints requests/s of each and
their ratio (target: gateway >= 0.7x bare), then verifies the audit chain the run produced.

    python benchmarks/bench_gateway.py [--seconds 5] [--requests N] [--connections 16] [--rounds 3]
                                       [--officers]

``--officers`` adds a third server: the gateway trusting the mock authentication center (an OIDC
issuer on loopback, in this process), called with a verified officer's token in
``X-Officer-Token`` on every request (one officer's session: the same token, verified once and
then found in the verification cache until it expires). It prints the ratio of the gateway with
token verification on to the gateway with it off (target: >= 0.8x).

``--requests`` switches to the httpx generator with a fixed request count per run. A Python client
is slower than the servers on a small machine, so its ratios say little: prefer ``wrk``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN = "bench-token-not-secret"
AUDIENCE = "bench-gateway"
DEPARTMENT = "11010500001"
PURPOSE = "最低生活保障审核"
SERVICE_PATH = "/services/11010500000/HJGL/resident/v1"


# --- the two servers (run in child processes) -----------------------------------------------------


def bare_app(db_url: str):  # type: ignore[no-untyped-def]
    """The baseline: the same connector and database, no gateway at all."""
    import orjson
    from govconnect_household import HouseholdConnector
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    connector = HouseholdConnector({"url": db_url})

    def lookup(citizen_id: str) -> bytes:
        rows = [
            r.model_dump(mode="json") for r in connector.run("resident", {"citizen_id": citizen_id})
        ]
        return orjson.dumps({"records": rows})

    async def resident(request: Request) -> Response:
        body = await run_in_threadpool(lookup, request.query_params["citizen_id"])
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/resident", resident)])


def gateway_app(db_url: str, audit: str, issuer: str | None = None):  # type: ignore[no-untyped-def]
    from govconnect import Gateway, hash_token, load_gateway_config, load_registry

    officers = {"issuers": [{"issuer": issuer, "audience": [AUDIENCE]}]} if issuer else {}
    config = load_gateway_config(
        {
            **officers,
            "connectors": {"household": {"url": db_url}},
            "consumers": [
                {
                    "department": DEPARTMENT,
                    "name": "朝阳区民政局",
                    "token_hashes": [hash_token(TOKEN)],
                    "services": ["household.resident"],
                    "max_level": "sensitive",
                    "purposes": [PURPOSE],
                }
            ],
        }
    )
    return Gateway(load_registry(config={}), config, audit=audit).app


def serve(kind: str, port: int, db_url: str, audit: str, issuer: str | None) -> None:
    import uvicorn

    if kind == "bare":
        app = bare_app(db_url)
    else:
        app = gateway_app(db_url, audit, issuer if kind == "officer" else None)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- load generation ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux ``/proc``), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start in {timeout}s")


def paths_for(kind: str, ids: list[str]) -> list[str]:
    from urllib.parse import quote

    if kind == "bare":
        return [f"/resident?citizen_id={i}" for i in ids]
    return [f"{SERVICE_PATH}?citizen_id={i}&purpose={quote(PURPOSE)}" for i in ids]


def run_wrk(
    base: str,
    paths: list[str],
    seconds: float,
    connections: int,
    workdir: Path,
    pin: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[float, int, int]:
    script = workdir / "paths.lua"
    table = ",\n".join(f'"{p}"' for p in paths)
    extra = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in (headers or {}).items())
    script.write_text(
        f"local paths = {{\n{table}\n}}\nlocal i = 0\n"
        f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n{extra}'
        "request = function()\n  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\nend\n',
        encoding="utf-8",
    )
    out = subprocess.run(
        [
            *(pin or []),
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "-s",
            str(script),
            base,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    return rps, total, errors


def run_httpx(
    base: str,
    paths: list[str],
    seconds: float,
    connections: int,
    requests: int | None,
    extra: dict[str, str] | None = None,
) -> tuple[float, int, int]:
    import httpx

    async def main() -> tuple[float, int, int]:
        done = errors = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        headers = {"Authorization": f"Bearer {TOKEN}", **(extra or {})}
        async with httpx.AsyncClient(base_url=base, limits=limits, headers=headers) as client:
            deadline = time.monotonic() + seconds
            started = time.perf_counter()

            issued = 0

            async def worker(offset: int) -> None:
                nonlocal done, errors, issued
                i = offset
                while True:
                    if requests is None and time.monotonic() >= deadline:
                        return
                    if requests is not None:
                        if issued >= requests:
                            return
                        issued += 1  # claimed before awaiting, so the count is exact
                    resp = await client.get(paths[i % len(paths)])
                    i += connections
                    if resp.status_code == 200:
                        done += 1
                    else:
                        errors += 1

            await asyncio.gather(*(worker(k) for k in range(connections)))
            elapsed = time.perf_counter() - started
        return (done + errors) / elapsed, done + errors, errors

    return asyncio.run(main())


def measure(
    kind: str,
    args: argparse.Namespace,
    db_url: str,
    ids: list[str],
    work: Path,
    officer: tuple[str, str] | None = None,
) -> tuple[float, float | None]:
    """Requests/s of one server under load, and its CPU time per request (µs) where known."""
    port = free_port()
    audit = str(work / "audit.sqlite")
    # On a machine with two CPUs or more, the server gets the last one and the load generator the
    # others, so the two do not fight over a core (``taskset`` where it exists).
    cpus = os.cpu_count() or 1
    pinning = args.pin and shutil.which("taskset") is not None and cpus >= 2
    pin = ["taskset", "-c", str(cpus - 1)] if pinning else []
    client_pin = ["taskset", "-c", f"0-{cpus - 2}"] if pinning else []
    proc = subprocess.Popen(
        [
            *pin,
            sys.executable,
            __file__,
            "--serve",
            kind,
            "--port",
            str(port),
            "--db",
            db_url,
            "--audit",
            audit,
            *(["--issuer", officer[0]] if officer else []),
        ]
    )
    headers = {"X-Officer-Token": officer[1]} if officer and kind == "officer" else {}
    try:
        wait_until_up(port, proc)
        base = f"http://127.0.0.1:{port}"
        paths = paths_for(kind, ids)
        use_wrk = args.loadgen == "wrk" or (
            args.loadgen == "auto" and shutil.which("wrk") and not args.requests
        )
        gen = "wrk" if use_wrk else "httpx"
        # warm up (connections, thread pool, SQLite page cache)
        if use_wrk:
            run_wrk(base, paths, 1, args.connections, work, client_pin, headers)
        else:
            run_httpx(base, paths, 1, args.connections, None, headers)
        cpu_before = cpu_seconds(proc.pid)
        if use_wrk:
            rps, total, errors = run_wrk(
                base, paths, args.seconds, args.connections, work, client_pin, headers
            )
        else:
            rps, total, errors = run_httpx(
                base, paths, args.seconds, args.connections, args.requests, headers
            )
        cpu_after = cpu_seconds(proc.pid)
        cpu = None
        if cpu_before is not None and cpu_after is not None and total:
            cpu = (cpu_after - cpu_before) / total * 1e6
        cpu_text = f", {cpu:.0f} µs server CPU/request" if cpu is not None else ""
        print(f"{kind:8} {rps:10.0f} req/s  ({total} requests, {errors} non-200, {gen}{cpu_text})")
        if errors:
            raise SystemExit(f"{kind}: {errors} requests were not answered 200")
        return rps, cpu
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    parser.add_argument("--requests", type=int, default=None, help="fixed request count (httpx)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each server")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin the server to one CPU"
    )
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--loadgen", choices=("auto", "wrk", "httpx"), default="auto")
    parser.add_argument(
        "--officers", action="store_true", help="also the gateway verifying officers' tokens"
    )
    parser.add_argument("--serve", choices=("bare", "gateway", "officer"), help=argparse.SUPPRESS)
    parser.add_argument("--issuer", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--audit", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.db, args.audit, args.issuer)
        return

    from govconnect_household import create_sample_database

    from govconnect import AuditLog

    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        work = Path(tmp)
        db = work / "household.sqlite"
        db_url = f"sqlite:///{db}"
        create_sample_database(db_url, count=args.residents)
        ids = [
            r[0]
            for r in sqlite3.connect(db).execute(
                "SELECT gmsfhm FROM hj_resident ORDER BY random() LIMIT 500"
            )
        ]
        print(
            f"household resident lookup, {args.residents} residents, {args.connections} connections, "
            f"{args.seconds:g}s per run, {os.cpu_count()} CPU(s)"
        )
        center, officer = None, None
        if args.officers:
            from govconnect.testing import MockIdentityCenter

            center = MockIdentityCenter(audience=AUDIENCE).start()
            center.add_user("bench-officer", department=DEPARTMENT)
            officer = (center.issuer, center.token("bench-officer", expires_in=3600))
        bares, gateways, officers = [], [], []
        for _ in range(args.rounds):  # alternate, so background load hits all alike
            bares.append(measure("bare", args, db_url, ids, work))
            gateways.append(measure("gateway", args, db_url, ids, work))
            if officer is not None:
                officers.append(measure("officer", args, db_url, ids, work, officer))
        if center is not None:
            center.stop()
        bare = statistics.median(r for r, _ in bares)
        gateway = statistics.median(r for r, _ in gateways)
        print(f"median   bare {bare:.0f} req/s, gateway {gateway:.0f} req/s")
        cpus = [c for _, c in bares + gateways]
        if all(c is not None for c in cpus):
            bare_cpu = statistics.median(c for _, c in bares if c is not None)
            gw_cpu = statistics.median(c for _, c in gateways if c is not None)
            print(
                f"cpu      bare {bare_cpu:.0f} µs/request, gateway {gw_cpu:.0f} µs/request "
                f"(CPU-bound ratio {bare_cpu / gw_cpu:.2f}x)"
            )
        ratio = gateway / bare
        verdict = "meets" if ratio >= 0.7 else "BELOW"
        print(f"ratio    {ratio:10.2f}x  (gateway / bare; {verdict} the 0.7x target)")
        if officers:
            on = statistics.median(r for r, _ in officers)
            on_ratio = on / gateway
            verdict = "meets" if on_ratio >= 0.8 else "BELOW"
            print(
                f"officer  {on:10.0f} req/s with token verification, ratio {on_ratio:.2f}x "
                f"(on / off; {verdict} the 0.8x target)"
            )
            on_cpus = [c for _, c in officers if c is not None]
            if on_cpus and all(c is not None for c in cpus):
                print(
                    f"officer  {statistics.median(on_cpus):.0f} µs/request server CPU "
                    f"(CPU-bound ratio on / off {gw_cpu / statistics.median(on_cpus):.2f}x)"
                )
        with AuditLog(work / "audit.sqlite") as audit:
            started = time.perf_counter()
            report = audit.verify()
            print(
                f"audit    {report.records} records chained with {report.algorithm}, "
                f"verified in {time.perf_counter() - started:.2f}s"
            )


if __name__ == "__main__":
    main()
