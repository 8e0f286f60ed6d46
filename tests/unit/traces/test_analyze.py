"""`observe traces analyze`: the report's exact shape and numbers for seeded Bookinfo traffic."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from click.testing import CliRunner

from observe.app.cli import cli
from observe.traces.analyze import analyze
from tests.unit.traces.jaeger_json import TraceBuilder, bookinfo, response


def seeded() -> bytes:
    traces = []
    for i in range(20):
        # Every 5th request fails at ratings; ratings latency grows 1 ms per request.
        traces.append(bookinfo(f"t{i}", start_us=1_700_000_000_000_000 + i * 1000,
                               ratings_status=503 if i % 5 == 0 else 200, ratings_us=1000 * (i + 1)))
    lonely = TraceBuilder("lonely")
    lonely.span("productpage", "client", parent="feedfacefeedface", duration_us=7000)  # no server span came
    return orjson.dumps(response(*traces, lonely))


def test_report_has_sorted_edges_services_and_unpaired() -> None:
    report = analyze(seeded())
    assert list(report) == ["edges", "services", "unpaired"]
    edges = {(e["client"], e["server"]): e for e in report["edges"]}
    assert [(e["client"], e["server"]) for e in report["edges"]] == sorted(edges)
    assert sorted(edges) == [("istio-ingressgateway", "productpage"), ("productpage", "details"),
                             ("productpage", "reviews"), ("reviews", "ratings")]
    ratings = edges[("reviews", "ratings")]
    assert list(ratings) == ["client", "server", "requests", "errors", "p50_ms", "p95_ms"]
    assert (ratings["requests"], ratings["errors"]) == (20, 4)
    # client latency = ratings_us + 500 µs: 1.5, 2.5, ... 20.5 ms; nearest rank p50 = 10th, p95 = 19th.
    assert (ratings["p50_ms"], ratings["p95_ms"]) == (10.5, 19.5)
    assert edges[("productpage", "details")] == {"client": "productpage", "server": "details", "requests": 20,
                                                 "errors": 0, "p50_ms": 5.0, "p95_ms": 5.0}
    services = {s["name"]: s for s in report["services"]}
    assert [s["name"] for s in report["services"]] == sorted(services)
    assert services["ratings"] == {"name": "ratings", "requests": 20, "errors": 4}
    assert services["istio-ingressgateway"]["requests"] == 20
    assert services["productpage"] == {"name": "productpage", "requests": 20, "errors": 0}
    assert report["unpaired"] == 1


def test_cli_prints_one_json_object(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_bytes(seeded())
    out = CliRunner().invoke(cli, ["traces", "analyze", str(path)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == analyze(seeded())


def test_cli_rejects_a_file_that_is_not_a_jaeger_export(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"data": [{"spans": 3}]}')
    out = CliRunner().invoke(cli, ["traces", "analyze", str(path)])
    assert out.exit_code == 2
    assert "bad.json" in out.output and "Jaeger" in out.output
