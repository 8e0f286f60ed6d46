"""Access logs with `parser: nginx` through `observe ship` into the real Elasticsearch and OpenSearch.

Most lines take the C loop's nginx parser (cri_native.c); IPv6 clients, upstream retries, a partial line and lines
that do not parse take the Python path. Every document the engine holds must carry the fields the Python parser
(the reference) makes of its line, with the engine's mapping accepting them all, each line exactly once.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from observe.logs.parsers import NGINX_ROOTS, NginxParser
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
                traces.INGRESS_5XX,  # upstream retries: the Python path
                traces.NGINX_COMBINED.replace("203.0.113.9", "2001:db8::7"),  # IPv6: the Python path
                traces.INGRESS_5XX.replace(" 0.004 ", " 1.2.3 "),  # does not parse: flagged
                "2024/05/14 09:16:05 [error] 31#31: *1 connect() failed",  # not an access line: flagged
            ]
    return lines


def test_nginx_lines_ship_with_the_reference_parsers_fields(tmp_path: Path, engine: Peer) -> None:  # noqa: F811
    sp = shipper(tmp_path, engine, "nginx", parser="nginx", kubernetes={"enabled": "off"})
    lines = access_lines()
    records = [f"{TS.format(i)} stdout F {line}\n".encode() for i, line in enumerate(lines)]
    # One line split by the runtime into a partial part and its end, as a long line is.
    long_line = traces.NGINX_COMBINED.replace("/static/app.js", "/static/" + "a" * 300 + ".js")
    records.append(f"{TS.format(len(lines))} stdout P {long_line[:200]}\n".encode())
    records.append(f"{TS.format(len(lines))} stdout F {long_line[200:]}\n".encode())
    lines.append(long_line)
    (sp.logs_dir / "ingress.log").write_bytes(b"".join(records))
    sp.start()
    try:
        assert sp.metric("observe_shipper_native_fast_path") == 1, "the C loop is not built: run make native"
        wait_for(lambda: count(engine.url, sp.data_stream) >= len(lines), 90, f"{len(lines)} documents", sp.log_tail)
        wait_for(lambda: sp.metric("observe_shipper_lag_bytes") == 0, 60, "every byte acknowledged", sp.log_tail)
        docs = all_docs(engine.url, sp.data_stream, ("message", "log", *NGINX_ROOTS))
        assert len(docs) == len(lines)
        assert len({d["_id"] for d in docs}) == len(docs)
        assert count(engine.url, sp.deadletter) == 0  # the engine's mapping took every document
        docs.sort(key=lambda d: d["log"]["offset"])
        parser = NginxParser()
        flagged = 0
        for line, doc in zip(lines, docs, strict=True):
            assert doc["message"] == line
            parsed = parser.parse(line)
            if parsed.flags:
                flagged += 1
                assert doc["log"]["flags"] == ["parse_failed"] and not NGINX_ROOTS.intersection(doc)
                continue
            assert "flags" not in doc["log"]
            got = {k: v for k, v in doc.items() if k in NGINX_ROOTS}
            assert got == orjson.loads(orjson.dumps(parsed.fields)), line
        assert flagged == 2 * 8
        assert sp.metric("observe_shipper_events_flagged_total", flag="parse_failed") == flagged
    finally:
        sp.stop()

