"""Traces that attack the decoder: nesting past the recursion limit, absurd sampler rates, `{}`, a BOM."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest

from observe.traces.aggregate import RedAggregates
from observe.traces.analyze import analyze
from observe.traces.config import TracesConfig
from observe.traces.ingest import Ingest
from observe.traces.puller import Puller
from tests.unit.traces.jaeger_json import TraceBuilder, bookinfo, response, tag

REPO = Path(__file__).resolve().parents[3]
DEEP = "[" * 100_000 + "]" * 100_000


def deep_trace(trace_id: str) -> bytes:
    """A trace whose one span carries a tag value nested 100,000 levels."""
    t = TraceBuilder(trace_id)
    t.span("attacker", "server", extra_tags=[tag("payload", "PLACEHOLDER")])
    return orjson.dumps(t.json()).replace(b'"PLACEHOLDER"', DEEP.encode())


def body_with(*parts: bytes, errors: bytes = b"null") -> bytes:
    return b'{"data":[' + b",".join(parts) + b'],"errors":' + errors + b"}"


def test_a_deep_trace_is_skipped_and_counted_and_the_rest_is_used() -> None:
    ingest = Ingest(RedAggregates())
    body = body_with(orjson.dumps(bookinfo("t1").json()), deep_trace("t2"), orjson.dumps(bookinfo("t3").json()))
    assert ingest.feed(body) == 2
    assert ingest.rejected == {"trace_too_deep": 1}
    assert ingest.pairer.accepted == 16


def test_deep_errors_do_not_hide_the_traces() -> None:
    ingest = Ingest(RedAggregates())
    assert ingest.feed(body_with(orjson.dumps(bookinfo("t1").json()), errors=DEEP.encode())) == 1
    assert ingest.pairer.accepted == 8


@pytest.mark.parametrize("depth", [900, 990, 2000])
def test_nesting_near_the_recursion_limit_never_raises(depth: int) -> None:
    t = TraceBuilder("t")
    t.span("a", "server", extra_tags=[tag("payload", "PLACEHOLDER")])
    deep = ("[" * depth + "]" * depth).encode()
    body = body_with(orjson.dumps(t.json()).replace(b'"PLACEHOLDER"', deep), orjson.dumps(bookinfo("t2").json()))
    rejected: dict[str, int] = {}
    report = analyze(body, 1.0, rejected)
    assert any(e["client"] == "productpage" for e in report["edges"])


@pytest.mark.parametrize("param", ["1e-300", "5e-324", "1e-7", "0", "-1", "\"inf\"", "\"nan\"", "1e400", "\"x\""])
def test_sampler_param_out_of_range_bounds_the_weight_and_is_counted(param: str) -> None:
    t = TraceBuilder("t")
    t.span("a", "server", extra_tags=[tag("sampler.type", "probabilistic"), tag("sampler.param", 0.5)])
    body = orjson.dumps(response(t)).replace(b'"value":0.5', f'"value":{param}'.encode())
    rejected: dict[str, int] = {}
    report = analyze(body, 1.0, rejected)
    assert report["services"] == [{"name": "a", "requests": 1, "errors": 0}]  # the default weight, not 1/param
    assert rejected == {"sampler_param_out_of_range": 1}


def test_a_sampler_param_in_range_still_weighs() -> None:
    t = TraceBuilder("t")
    t.span("a", "server", extra_tags=[tag("sampler.type", "probabilistic"), tag("sampler.param", 0.001)])
    assert analyze(orjson.dumps(response(t)))["services"][0]["requests"] == 1000


def run_analyze(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "observe", "traces", "analyze", str(path)], capture_output=True,
                          text=True, cwd=REPO, env=os.environ, timeout=60)


def test_analyze_cli_on_hostile_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    proc = run_analyze(empty)
    assert proc.returncode == 2 and 'no "data" list' in proc.stderr and "Traceback" not in proc.stderr
    bom = tmp_path / "bom.json"
    bom.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(response(bookinfo("t1"))))
    proc = run_analyze(bom)
    assert proc.returncode == 0, proc.stderr
    assert orjson.loads(proc.stdout)["edges"]
    deep = tmp_path / "deep.json"
    deep.write_bytes(body_with(deep_trace("t1"), orjson.dumps(bookinfo("t2").json())))
    proc = run_analyze(deep)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "1 traces skipped (trace_too_deep)" in proc.stderr
    assert orjson.loads(proc.stdout)["edges"]


@pytest.fixture
async def jaeger_answering_deep_traces() -> AsyncIterator[str]:
    """A server on 127.0.0.1 that answers /api/traces with one deep trace next to a good one (what a real Jaeger
    cannot be made to store, but a proxy or a compromised backend can send)."""
    async def traces(request: web.Request) -> web.Response:
        return web.Response(body=body_with(deep_trace("bad"), orjson.dumps(bookinfo("good").json())),
                            content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_the_puller_counts_skips_and_moves_on(jaeger_answering_deep_traces: str, tmp_path: Path) -> None:
    registry = CollectorRegistry()
    cfg = TracesConfig(jaeger_url=jaeger_answering_deep_traces, services=["productpage"],  # type: ignore[call-arg]
                       settle_seconds=0, initial_lookback_seconds=60, state_file=tmp_path / "state")
    puller = Puller(cfg, registry)
    try:
        assert await puller.tick() is True
        first = puller.watermark_us
        assert puller.failures == 0 and first is not None
        assert await puller.tick() is True
        assert puller.watermark_us is not None and puller.watermark_us >= first
    finally:
        await puller.close()
    text = generate_latest(registry).decode()
    assert 'observe_traces_input_rejected_total{reason="trace_too_deep"}' in text
    assert 'observe_traces_pull_errors_total' not in text or 'reason="decode"' not in text


def test_a_trace_of_the_wrong_shape_is_skipped_and_counted_and_the_rest_is_used() -> None:
    """A traceID that is a number failed the whole answer (msgspec.ValidationError): the puller backed off and asked
    for the same window again, which failed again, so no later trace of that service was ever counted."""
    odd = bookinfo("t2").json()
    odd["traceID"] = 12345
    ingest = Ingest(RedAggregates())
    body = body_with(orjson.dumps(bookinfo("t1").json()), orjson.dumps(odd), orjson.dumps(bookinfo("t3").json()))
    assert ingest.feed(body) == 2
    assert ingest.rejected == {"trace_malformed": 1}
    assert ingest.pairer.accepted == 16


def test_an_answer_whose_data_is_not_a_list_still_fails_as_malformed() -> None:
    import msgspec

    with pytest.raises(msgspec.ValidationError):
        Ingest(RedAggregates()).feed(b'{"data": 5, "errors": null}')
