"""The gateway's per-call fast paths give exactly what the general code they replace gives."""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote

from govconnect.gateway.audit import AuditLog
from govconnect.gateway.audit_record import _json_list, _now
from govconnect.gateway.request import _new_message_id, _parse_query


def test_query_parsing_matches_parse_qsl() -> None:
    """As Starlette builds ``request.query_params``: latin-1, ``parse_qsl(keep_blank_values)``."""
    pieces = [
        *"ab=&+%2Fé中x_-.;",
        "%E6%9C%80",
        "%e4",
        "%ZZ",
        "%2",
        "%",
        "purpose=",
        "purpose",
        "==",
    ]
    rng = random.Random(5)
    cases = ["", "&", "purpose=" + quote("最低生活保障审核"), "purpose=%E6%9C&purpose=a+b"]
    cases += ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))) for _ in range(20_000)]
    for text in cases:
        raw = text.encode("utf-8")
        assert _parse_query(raw) == parse_qsl(raw.decode("latin-1"), keep_blank_values=True), text


def test_message_ids_are_uuid4_hex() -> None:
    ids = {_new_message_id() for _ in range(1000)}
    assert len(ids) == 1000
    for mid in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", mid)
        parsed = uuid.UUID(hex=mid)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_audit_time_format_is_unchanged() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", _now())
    stamp = datetime.strptime(_now(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 5


def test_json_lists_cached_or_not_are_the_same() -> None:
    assert _json_list(("a", "名")) == _json_list(["a", "名"]) == '["a","名"]'
    assert _json_list(("a", "名")) == '["a","名"]'  # from the cache
    assert _json_list(()) == "[]"


def test_write_commits_like_append(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    first = log.append(service="S", outcome="ok", status=200, fields=("a",), rows=1)
    seq, digest = log.write(service="S", outcome="ok", status=200, fields=("a",), rows=1)
    assert (seq, digest) == log.head() and seq == first.seq + 1
    assert [r.fields for r in log.records()] == [["a"], ["a"]]
    assert log.verify().records == 2
    log.close()
