"""Regenerate ``govconnect/catalog/identity/gbt2260.txt`` from an installed python-stdnum.

    .venv/bin/python tools/gbt2260_from_stdnum.py [--check]

Why a generator and not a copy: python-stdnum is LGPL-2.1-or-later and its ``stdnum/cn/loc.dat``
is compiled from Chinese Wikipedia (CC BY-SA). govconnect is Apache-2.0, so we do not copy that
file: we extract only the facts a validator needs — which six-digit GB/T 2260 codes exist and
whether each is still current — with no names, no year ranges and none of the file's layout, add
the codes stdnum lacks (``SUPPLEMENT``, each with its official source), and say so in the data
file's header. ``--check`` (also run by ``tests/test_identity_regions.py`` when stdnum is installed)
fails when the shipped file differs from what this script would write, so the data cannot drift
from its stated source silently.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata, resources
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "govconnect" / "catalog" / "identity" / "gbt2260.txt"

#: codes python-stdnum does not list, with the document that assigns them
SUPPLEMENT: dict[str, tuple[bool, str]] = {
    "830000": (
        True,
        "Taiwan residents' residence permits, 港澳台居民居住证申领发放办法 (国办发〔2018〕81号)",
    ),
}

_COUNTY = re.compile(r'county="([^"]*)"')
_CLOSED = re.compile(r"^\[\d*-\d+\]")  # a name with an end year is no longer in use


def derive(loc_dat: str) -> dict[str, bool]:
    """Six-digit code -> whether it is current, from the text of stdnum's ``cn/loc.dat``."""
    codes: dict[str, bool] = {}
    province = ""
    for line in loc_dat.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if not line.startswith(" "):
            province = line.split()[0]
            continue
        suffix, rest = line.strip().split(" ", 1)
        found = _COUNTY.search(rest)
        names = found.group(1).split(",") if found else [""]
        codes[province + suffix] = any(not _CLOSED.match(name) for name in names)
    for code, (current, _source) in SUPPLEMENT.items():
        codes[code] = current
    return dict(sorted(codes.items()))


def render(codes: dict[str, bool], version: str) -> str:
    supplement = "\n".join(f"#   {code}: {source}" for code, (_, source) in SUPPLEMENT.items())
    head = f"""\
# GB/T 2260 administrative division codes (中华人民共和国行政区划代码), current and historical.
#
# What: every six-digit code that has been in use, one a line; "h" marks a code that is no longer
#   current (people keep numbers issued under abolished county codes, so these stay valid).
# Source: python-stdnum {version}, stdnum/cn/loc.dat (compiled by its authors from the Chinese
#   Wikipedia lists of administrative division codes, which follow the Ministry of Civil Affairs'
#   published GB/T 2260 code lists), plus these codes it lacks:
{supplement}
# Derived: by tools/gbt2260_from_stdnum.py; stdnum release {version}.
# Terms: only the code numbers and a current/historical flag are reproduced - facts of a national
#   standard, without names, dates or the layout of the source. python-stdnum is LGPL-2.1-or-later
#   and its source text CC BY-SA; if a reviewer holds that these facts carry the source's terms,
#   they apply to this data file alone, which is kept separate and replaceable for that reason.
"""
    body = "".join(f"{code}\n" if current else f"{code} h\n" for code, current in codes.items())
    return head + body


def expected() -> str:
    loc = resources.files("stdnum").joinpath("cn/loc.dat").read_text(encoding="utf-8")
    return render(derive(loc), metadata.version("python-stdnum"))


def main(argv: list[str]) -> int:
    text = expected()
    if "--check" in argv:
        same = TARGET.read_text(encoding="utf-8") == text
        print("gbt2260.txt is up to date" if same else "gbt2260.txt differs: regenerate it")
        return 0 if same else 1
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
