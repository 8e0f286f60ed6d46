"""Lines with `parser: nginx` and `parser: json` through `observe ship` into the real Elasticsearch and OpenSearch.

Most lines take the C loop's parsers (cri_native.c), IPv6 clients, upstream retries and JSON floats included; the
others take the Python path: an IPv6 scope, JSON floats orjson writes otherwise, duplicate keys and traces in the
message, a partial line, lines that do not parse. Every
document the engine holds must carry the fields the Python parser (the reference) makes of its line, with the
engine's mapping accepting them all, each line exactly once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from observe.logs.parsers import JSON_ROOTS, NGINX_ROOTS, JsonParser, NginxParser, Parser
from tests.integration.logs.shipper_process import all_docs, count, wait_for
from tests.integration.logs.test_shipper_core import engine, shipper  # noqa: F401  (engine: a fixture)
from tests.peers.base import Peer
from tests.unit.logs import traces

pytestmark = [pytest.mark.integration]

TS = "2024-05-14T09:00:00.{:09d}Z"


def access_lines() -> list[str]:
    lines = []
    for i in range(400):
        lines.append(f'10.244.1.{i % 250} - - [14/May/2024:09:16:02 +0000] "GET /api/items?id={i} HTTP/1.1" '
                     f'{200 + i % 4 * 100} {i * 7} "https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)" '
                     f'312 0.{i:03d} [shop-web-8080] [] 10.244.2.7:8080 512 0.{i:03d} 200 {i:032x}')
        if i % 50 == 0:
            lines += [
                traces.NGINX_COMBINED,
                '198.51.100.4 - - [14/May/2024:09:16:05 +0000] "GET /q?\\"x\\" HTTP/1.1" 404 0 "-" "a \\"quoted\\" agent"',
                traces.INGRESS_5XX,  # upstream retries
                traces.NGINX_COMBINED.replace("203.0.113.9", "2001:db8::7"),
                traces.NGINX_COMBINED.replace("203.0.113.9", "fe80::1%eth0"),  # an IPv6 scope: the Python path
                traces.INGRESS_5XX.replace(" 0.004 ", " 1.2.3 "),  # does not parse: flagged
                "2024/05/14 09:16:05 [error] 31#31: *1 connect() failed",  # not an access line: flagged
            ]
    return lines


def json_lines() -> list[str]:
    lines = []
    for i in range(400):
        lines.append(orjson.dumps({
            "ts": "2024-05-01T12:34:56.123Z", "level": "INFO" if i % 3 else "WARN", "logger": "shop.orders",
            "msg": f"order {i} placed \u00e9", "trace_id": f"{i:032x}", "user": "alice", "status": 200 + i % 4,
            "tags": ["a", "b"], "ctx": {"attempt": i % 5, "ok": i % 2 == 0}}).decode())
        if i % 50 == 0:
            lines += [
                '{"msg": "escaped \\u003cb\\u003e \\"quoted\\"", "lvl": 30, "span_id": "00f067aa0ba902b7"}',
                '{"msg": "took a while", "took_s": 1.5}',
                '{"msg": "took a while", "took_s": 1.50}',  # a float orjson writes as 1.5: the Python path
                '{"msg": "twice", "user": "a", "user": "b"}',  # a duplicate key: the Python path
                orjson.dumps({"msg": traces.SPRING_BOOT, "level": "ERROR"}).decode(),  # a trace: error fields (Python)
                '{"msg": "cut off"',  # not JSON: flagged
                "plain text, not json",  # flagged
            ]
    return lines


def ship_and_compare(tmp_path: Path, peer: Peer, spec: str, parser: Parser, roots: frozenset[str],
                     lines: list[str]) -> None:
    """Ship `lines` (and one more, split into a partial line and its end) with parser `spec`; compare each document
    with what `parser` makes of its line."""
    sp = shipper(tmp_path, peer, spec, parser=spec, kubernetes={"enabled": "off"})
    records = [f"{TS.format(i)} stdout F {line}\n".encode() for i, line in enumerate(lines)]
    long_line = lines[0].replace("shop", "shop" + "a" * 300)
    records.append(f"{TS.format(len(lines))} stdout P {long_line[:200]}\n".encode())
    records.append(f"{TS.format(len(lines))} stdout F {long_line[200:]}\n".encode())
    lines = [*lines, long_line]
    (sp.logs_dir / "app.log").write_bytes(b"".join(records))
    sp.start()
    try:
        assert sp.metric("observe_shipper_native_fast_path") == 1, "the C loop is not built: run make native"
        wait_for(lambda: count(peer.url, sp.data_stream) >= len(lines), 90, f"{len(lines)} documents", sp.log_tail)
        wait_for(lambda: sp.metric("observe_shipper_lag_bytes") == 0, 60, "every byte acknowledged", sp.log_tail)
        docs = all_docs(peer.url, sp.data_stream, ("message", "log", "tags", *roots))
        assert len(docs) == len(lines)
        assert len({d["_id"] for d in docs}) == len(docs)
        assert count(peer.url, sp.deadletter) == 0  # the engine's mapping took every document
        docs.sort(key=lambda d: d["log"]["offset"])
        flagged = 0
        for line, doc in zip(lines, docs, strict=True):
            parsed = parser.parse(line)
            if parsed.flags:
                flagged += 1
                assert doc["message"] == line
                assert doc["log"]["flags"] == ["parse_failed"] and not (roots - {"log"}).intersection(doc)
                continue
            assert doc["message"] == (parsed.message if parsed.message is not None else line)
            assert "flags" not in doc["log"]
            expected: dict[str, Any] = orjson.loads(orjson.dumps(parsed.fields))
            for key, value in expected.pop("log", {}).items():
                assert doc["log"][key] == value, line
            got = {k: v for k, v in doc.items() if k in roots and k != "log"}
            if parsed.message is not None and "\n" in parsed.message:
                assert got.pop("error")["type"] == "org.postgresql.util.PSQLException"  # the processor's error fields
                got["tags"] = doc.get("tags")
                expected["tags"] = ["java_exception"]
            assert got == expected, line
        assert flagged == 2 * 8
        assert sp.metric("observe_shipper_events_flagged_total", flag="parse_failed") == flagged
    finally:
        sp.stop()


def test_nginx_lines_ship_with_the_reference_parsers_fields(tmp_path: Path, engine: Peer) -> None:  # noqa: F811
    ship_and_compare(tmp_path, engine, "nginx", NginxParser(), NGINX_ROOTS, access_lines())


def test_json_lines_ship_with_the_reference_parsers_fields(tmp_path: Path, engine: Peer) -> None:  # noqa: F811
    ship_and_compare(tmp_path, engine, "json", JsonParser(), JSON_ROOTS, json_lines())
