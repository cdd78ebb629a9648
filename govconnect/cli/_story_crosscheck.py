"""The demo's last chapter: the household register cross-checked against civil affairs (多源校核).

Civil affairs keeps its own copy of a citizen's name, gender and address in its case files; the
household register is the authoritative source of all three. The chapter writes one civil-affairs
drop file for residents of the demo's household database, with a known number of names and
addresses changed, and shows the cross-check finds exactly those. (Civil affairs keeps no birth
date, so birth dates are not part of this chapter; the tests plant them between other sources.)
Then it sends them back to the source: one correction notice per conflict, queued in an outbox
and delivered to a mock platform of its own, addressed to civil affairs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._registry import load_registry
from ..crosscheck import CrosscheckReport, crosscheck, send_corrections
from ..exchange.client import ExchangeClient
from ..exchange.delivery.worker import DeliveryWorker
from ..exchange.outbox.store import Outbox
from ..testing import MockPlatform

PLANTED = {"姓名": 12, "住址": 9}
"""How many civil-affairs copies the demo makes disagree with the register, by element."""
NODE = "110000000000/governance"
"""The node the demo's data-governance office sends correction notices from."""


def crosscheck_chapter(
    workdir: Path, household: dict[str, Any], people: int = 200
) -> dict[str, Any]:
    """Seed civil affairs from the register with ``PLANTED`` conflicts, cross-check, and return
    what was planted and what was found; an empty result when the civil-affairs plugin is absent."""
    try:
        import govconnect_civil_affairs
        import govconnect_household
        from govconnect_civil_affairs.layout import fit
        from govconnect_civil_affairs.sample import write_drop_file
    except ImportError:
        return {}
    settings = {"drop_dir": str(workdir / "civil-drop"), "inbox_dir": str(workdir / "civil-in")}
    Path(settings["drop_dir"]).mkdir(parents=True, exist_ok=True)
    reg = load_registry(
        plugins=[govconnect_household, govconnect_civil_affairs],
        entry_points=False,
        config={"connectors": {"household": household, "civil_affairs": settings}},
    )
    cases: list[dict[str, str]] = []
    given = {"household": household, "civil_affairs": settings}  # nothing from the shell
    with reg.connector("household", household) as connector:
        for resident in connector.run("residents"):
            if len(cases) == people:
                break
            if fit(resident.address, 60) != resident.address or len(resident.name) > 10:
                continue  # would not fit the case file's fixed-width fields: not a fair copy
            n = len(cases)
            name, address = resident.name, resident.address
            if n < PLANTED["姓名"]:
                name = name[0] + "某" + name[2:] if name[1:2] != "某" else name[0] + "甲"
            elif n < PLANTED["姓名"] + PLANTED["住址"]:
                address = fit(address[:-1] + "附1号", 60)
            cases.append(
                {
                    "AJBH": f"MZ20260105{n + 1:06d}",
                    "SFZH": str(resident.citizen_id),
                    "XM": name,
                    "XB": resident.gender,
                    "XZQH": resident.region_code,
                    "JZLB": "01",
                    "JTRK": "01",
                    "JZJE": f"{139500:09d}",
                    "AJZT": "3",
                    "SLRQ": "20260105",
                    "ZZ": address,
                    "GXSJ": f"2026010520{n // 60:02d}{n % 60:02d}",
                }
            )
    write_drop_file(Path(settings["drop_dir"]) / "MZJZ_20260105_001.DAT", cases)
    with crosscheck(reg, key="citizen_id", settings=given) as report:
        return {
            "crosscheck_people": len(cases),
            "crosscheck_planted": dict(sorted(PLANTED.items())),
            "crosscheck_found": report.conflicts_by_element,
            "crosscheck_sources": {n: s.as_dict() for n, s in report.sources.items()},
            "crosscheck_notices_sent": _send_back(report, workdir),
        }


def _send_back(report: CrosscheckReport, workdir: Path) -> int:
    """Queue the report's correction notices and deliver them; how many the platform accepted."""
    with (
        MockPlatform(node=NODE) as platform,
        ExchangeClient(platform.url, token=platform.token, node=NODE, user_id="demo") as client,
        Outbox(workdir / "corrections-outbox.sqlite") as outbox,
    ):
        send_corrections(report, outbox, user_id="demo")
        DeliveryWorker(outbox, client).drain(timeout=60)
        return platform.corrections_accepted
