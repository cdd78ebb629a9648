"""The demo's gateway chapter: civil-affairs clerks look residents up as *verified* officers.

"一次登录、全网通办": the clerks logged in once at the region's unified identity authentication
center — here a :class:`~govconnect.testing.MockIdentityCenter` on loopback — and the civil
affairs system forwards each clerk's token (``X-Officer-Token``) with its lookups at the household
department's gateway. The demo's gateway file trusts the center (``[[issuers]]``), binds every
consumer's officers' tokens to its client id (``officer_binding = "required"``) and asks for the
allowance reviewer's role on the resident lookup. Two lookups are refused, as they should be: a
token of an officer of another department, and a token issued to another department's system.
The audit log then names the calls by verified officer (as ``audit find --officer`` does).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn

from .._registry import Registry
from ..gateway.app import Gateway
from ..gateway.audit import AuditLog
from ..gateway.policy import generate_token, hash_token, load_gateway_config
from ..testing import MockIdentityCenter
from ..testing._loopback import LoopbackServer

__all__ = ["CLERKS", "gateway_chapter"]

AUDIENCE = "govconnect-gateway-11010500000"
ROLE = "最低生活保障审核员"
PURPOSE = "最低生活保障审核"
CIVIL_AFFAIRS, HUMAN_RESOURCES = "11010500001", "11010500002"
CIVIL_CLIENT, PENSION_CLIENT = "mz-dbxt", "rs-ylbx"  # the two systems' client ids at the center
#: The clerks who log in, and how many lookups each makes through the civil-affairs system.
CLERKS = {"wangfang": 2, "lina": 1}
#: Who else tries: an officer of human resources at the civil-affairs system (officer.department),
#: and a civil-affairs clerk's login made for the pension system (officer.client).
OUTSIDER = "zhaolei"


class _ServedGateway(LoopbackServer):
    """The demo's gateway on a loopback socket, as ``govconnect serve`` would run it."""

    _what = "the demo gateway"

    def __init__(self, gateway: Gateway) -> None:
        super().__init__()
        self._app = gateway.app

    def config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self._app, ws="none", lifespan="off", log_level="warning", access_log=False
        )


def _gateway_file(
    workdir: Path, issuer: str, consumer_token: str, household: dict[str, Any]
) -> Path:
    """The demo's gateway file, written out so ``govconnect audit … --log`` can be tried after."""
    consumers = [
        (CIVIL_AFFAIRS, "DBXT", "北京市朝阳区民政局 低保审核系统", consumer_token, CIVIL_CLIENT),
        (HUMAN_RESOURCES, "YLBX", "北京市朝阳区人社局 养老保险系统", None, PENSION_CLIENT),
    ]
    lines = [
        "# The demo's gateway file (written by `govconnect demo`): officers are verified.",
        "[gateway]",
        f"audit_log = {json.dumps(str(workdir / 'audit.sqlite'))}",
        'officer_binding = "required"',
        "",
        "[[issuers]]  # the mock unified identity authentication center of this run",
        f"issuer = {json.dumps(issuer)}",
        f"audience = [{json.dumps(AUDIENCE)}]",
        "",
        '[services."household.resident"]',
        f"roles = [{json.dumps(ROLE)}]",
    ]
    for department, system, name, token, client in consumers:
        hashes = [hash_token(token or generate_token())]
        lines += [
            "",
            "[[consumers]]",
            f"department = {json.dumps(department)}",
            f"system = {json.dumps(system)}",
            f"name = {json.dumps(name, ensure_ascii=False)}",
            f"token_hashes = {json.dumps(hashes)}",
            'services = ["household.resident"]',
            'max_level = "sensitive"',
            f"purposes = [{json.dumps(PURPOSE, ensure_ascii=False)}]",
            f"client_ids = [{json.dumps(client)}]",
        ]
    lines += ["", "[connectors.household]"]
    lines += [
        f"{k} = {json.dumps(v, ensure_ascii=False)}"
        for k, v in household.items()
        if isinstance(v, str | int)
    ]
    path = workdir / "gateway.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _residents(settings: dict[str, Any], count: int) -> list[str]:
    """Citizen ids of the first ``count`` residents of the legacy database: whom clerks look up."""
    engine = sa.create_engine(settings["url"])
    try:
        table = sa.table(settings["table"], sa.column("gmsfhm"))
        with engine.connect() as conn:
            query = sa.select(table.c.gmsfhm).order_by(table.c.gmsfhm).limit(count)
            return [str(row[0]) for row in conn.execute(query)]
    finally:
        engine.dispose()


def gateway_chapter(workdir: Path, registry: Registry, settings: dict[str, Any]) -> dict[str, Any]:
    """Serve the household gateway trusting a mock authentication center, make the clerks'
    lookups with their tokens (and the two that must fail), and return what the audit says."""
    consumer_token = generate_token()
    service = next(s for s in registry.services() if s.qualified_name == "household.resident")
    people = _residents(settings, sum(CLERKS.values()))
    with MockIdentityCenter(audience=AUDIENCE, algorithm="ES256") as center:  # fast keys
        for clerk in CLERKS:
            center.add_user(clerk, department=CIVIL_AFFAIRS, roles=[ROLE])
        center.add_user(OUTSIDER, department=HUMAN_RESOURCES, roles=[ROLE])
        path = _gateway_file(workdir, center.issuer, consumer_token, settings)
        config = load_gateway_config(path)
        config.connectors = {"household": settings}  # exactly the story's (as the bridge's)
        gateway = Gateway(registry, config, audit=workdir / "audit.sqlite")
        try:
            with _ServedGateway(gateway) as served, httpx.Client(timeout=10) as http:

                def login(user: str, client: str) -> str:
                    form = {"grant_type": "password", "username": user, "client_id": client}
                    answer = http.post(f"{center.url}/token", data=form)
                    answer.raise_for_status()
                    return str(answer.json()["access_token"])

                def look_up(officer_token: str, citizen_id: str) -> dict[str, Any]:
                    answer = http.get(
                        f"{served.url}/services/{service.id}",
                        params={"citizen_id": citizen_id, "purpose": PURPOSE},
                        headers={
                            "Authorization": f"Bearer {consumer_token}",
                            "X-Officer-Token": officer_token,
                        },
                    )
                    body: dict[str, Any] = answer.json()
                    return body

                tokens = {clerk: login(clerk, CIVIL_CLIENT) for clerk in CLERKS}
                lookups = [clerk for clerk, n in CLERKS.items() for _ in range(n)]
                answers = [look_up(tokens[c], p) for c, p in zip(lookups, people, strict=True)]
                answers.append(look_up(login(OUTSIDER, CIVIL_CLIENT), people[0]))
                answers.append(look_up(login(next(iter(CLERKS)), PENSION_CLIENT), people[0]))
        finally:
            gateway.close()
        issuer = center.issuer
    served_ok = sum(1 for a in answers if "records" in a)
    refused = Counter(
        (a.get("problems") or [{"rule": a.get("error")}])[0]["rule"]
        for a in answers
        if "records" not in a
    )
    with AuditLog(workdir / "audit.sqlite") as audit:  # as `audit find --officer` reads it
        by_officer = {
            who: Counter("served" if r.outcome == "ok" else "refused" for r in found)
            for who in (*CLERKS, OUTSIDER)
            if (found := list(audit.find_officer(who, issuer)))
        }
        report = audit.verify()
        verified = sum(u.calls for u in audit.officer_usage() if u.auth == "verified")
    return {
        "gateway_lookups_by_verified_officers": served_ok,
        "gateway_refused_by_rule": dict(sorted(refused.items())),
        "audit_calls_by_officer": {k: dict(sorted(v.items())) for k, v in by_officer.items()},
        "audit_calls_by_verified_officers": verified,
        "audit_chain_intact": not report.problems and report.records == len(answers),
    }
