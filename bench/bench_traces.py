"""Trace puller throughput: spans per CPU second through decode, pairing and aggregation, on one core.

Input: /api/traces answers of 1000 Bookinfo traces each (8 Envoy spans per trace, 22 tags per span,
the shape Istio sends), built once: with Istio's default operation names (`host:port/*`), and again
with the request path in every name (`.../details/4711`), so each name needs normalising.
Ceilings measured in the same run: decode-only with orjson (dicts) and with msgspec typed Structs
for every field and tag. They run under the pipeline's own interpreter settings: the cyclic GC paused
(the puller pauses it while it decodes an answer), the same process, the same answers, the same warm-up.
Stages: the hot path cut after each step (decode the answer, decode the spans, read tags and build
records, dedupe and pair, aggregate), CPU µs per span of each step.
Memory: a fresh process feeds 1,000,000 spans into the window without evicting and reports its RSS.
Each figure is the median of 5 rounds, and a round runs every measure once, so a burst of load from
other work on the shared machine hits all measures of one round alike.

Run: `python -m bench` (all benches) or `python -m bench.bench_traces`.
"""

from __future__ import annotations

import gc
import json
import random
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import msgspec
import orjson

SPANS_PER_TRACE = 8
TRACES_PER_RESPONSE = 1000
T0_US = 1_700_000_000_000_000


def _tag(key: str, value: Any) -> dict[str, Any]:
    kind = "bool" if isinstance(value, bool) else "int64" if isinstance(value, int) else "string"
    return {"key": key, "type": kind, "value": value}


def _span(rng: random.Random, tid: str, sid: str, parent: str | None, svc: str, kind: str, host: str,
          start: int, dur: int, status: int, path: str) -> dict[str, Any]:
    tags = [
        _tag("component", "proxy"),
        _tag("node_id", f"sidecar~10.1.{rng.randint(0, 255)}.{rng.randint(0, 255)}~{svc}-v1-7d9f.default"
                        "~default.svc.cluster.local"),
        _tag("zone", "europe-west1-b"), _tag("guid:x-request-id", str(uuid.UUID(int=rng.getrandbits(128)))),
        _tag("http.url", f"http://{host}:9080{path}"), _tag("http.method", "GET"), _tag("downstream_cluster", "-"),
        _tag("user_agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"), _tag("http.protocol", "HTTP/1.1"),
        _tag("peer.address", f"10.1.{rng.randint(0, 255)}.{rng.randint(0, 255)}"), _tag("request_size", "0"),
        _tag("upstream_cluster", f"outbound|9080||{host}.default.svc.cluster.local" if kind == "client" else "inbound|9080||"),
        _tag("upstream_cluster.name", f"outbound|9080||{host}.default.svc.cluster.local"),
        _tag("http.status_code", status), _tag("response_size", str(rng.randint(100, 5000))),
        _tag("response_flags", "-"), _tag("istio.canonical_revision", "v1"), _tag("istio.canonical_service", svc),
        _tag("istio.mesh_id", "cluster.local"), _tag("istio.namespace", "default"), _tag("span.kind", kind),
        _tag("internal.span.format", "otlp"),
    ]
    if status >= 500:
        tags.append(_tag("error", True))
    return {"traceID": tid, "spanID": sid, "operationName": f"{host}.default.svc.cluster.local:9080{path}",
            "references": [{"refType": "CHILD_OF", "traceID": tid, "spanID": parent}] if parent else [],
            "startTime": start, "duration": dur, "tags": tags, "logs": [], "processID": "p-" + svc,
            "warnings": None, "flags": 1}


def bookinfo_trace(rng: random.Random, start: int) -> dict[str, Any]:
    """One Bookinfo request as Jaeger returns it: gateway, productpage, details, reviews, ratings."""
    tid = f"{rng.getrandbits(128):032x}"
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(SPANS_PER_TRACE)]
    product = rng.randint(0, 9999)
    fail = rng.random() < 0.02
    spans = [
        _span(rng, tid, ids[0], None, "istio-ingressgateway", "client", "productpage", start, 30_000, 200, "/productpage"),
        _span(rng, tid, ids[1], ids[0], "productpage", "server", "productpage", start + 50, 29_000, 200, "/productpage"),
        _span(rng, tid, ids[2], ids[1], "productpage", "client", "details", start + 100, 5_000, 200, f"/details/{product}"),
        _span(rng, tid, ids[3], ids[2], "details", "server", "details", start + 150, 4_000, 200, f"/details/{product}"),
        _span(rng, tid, ids[4], ids[1], "productpage", "client", "reviews", start + 200, 12_000, 200, f"/reviews/{product}"),
        _span(rng, tid, ids[5], ids[4], "reviews", "server", "reviews", start + 250, 11_000, 200, f"/reviews/{product}"),
        _span(rng, tid, ids[6], ids[5], "reviews", "client", "ratings", start + 300, rng.randint(1000, 9000),
              503 if fail else 200, f"/ratings/{product}"),
        _span(rng, tid, ids[7], ids[6], "ratings", "server", "ratings", start + 350, rng.randint(500, 8000),
              503 if fail else 200, f"/ratings/{product}"),
    ]
    rng.shuffle(spans)  # Jaeger does not promise an order
    procs = {"p-" + s: {"serviceName": s, "tags": [_tag("hostname", f"{s}-v1-7d9f"), _tag("ip", "10.1.0.1")]}
             for s in ("istio-ingressgateway", "productpage", "details", "reviews", "ratings")}
    return {"traceID": tid, "spans": spans, "processes": procs, "warnings": None}


def responses(n_traces: int, seed: int = 7, offset: int = 0) -> list[bytes]:
    """n_traces Bookinfo traces as /api/traces answers of TRACES_PER_RESPONSE traces."""
    rng = random.Random(seed)
    out = []
    for first in range(0, n_traces, TRACES_PER_RESPONSE):
        last = min(n_traces, first + TRACES_PER_RESPONSE)
        data = [bookinfo_trace(rng, T0_US + (offset + i) * 2_000) for i in range(first, last)]
        out.append(orjson.dumps({"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}))
    return out


def istio_default_names(body: bytes) -> bytes:
    """The same answer with Istio's default operation names (`host:port/*`, the Envoy decorator)."""
    return re.sub(rb'("operationName":"[^"/]*:9080)/[^"]*"', rb'\1/*"', body)


def _pipeline(bodies: list[bytes]) -> float:
    from observe.traces.aggregate import RedAggregates
    from observe.traces.ingest import Ingest

    ingest = Ingest(RedAggregates())
    gc.collect()
    t = time.process_time()
    for body in bodies:
        ingest.feed(body)
    return time.process_time() - t


def _refetch(bodies: list[bytes]) -> float:
    from observe.traces.aggregate import RedAggregates
    from observe.traces.ingest import Ingest

    ingest = Ingest(RedAggregates())
    for body in bodies:
        ingest.feed(body)
    gc.collect()
    t = time.process_time()
    for body in bodies:  # the same traces again, as the next service's query or the overlap returns them
        ingest.feed(body)
    return time.process_time() - t


class _NullSink:
    """A pairing sink that does nothing: pairing cost without aggregation."""

    def span(self, span: Any) -> None:
        pass

    def pair(self, client: Any, server: Any, connection: str = "") -> None:
        pass

    def unpaired(self, span: Any) -> None:
        pass


def _stage(depth: int) -> Any:
    """The hot path cut after `depth` stages, each cumulative; the last stage is the whole pipeline."""
    from observe.traces import model
    from observe.traces.names import NameNormaliser
    from observe.traces.pairing import Pairer

    def run(bodies: list[bytes]) -> float:
        names, pairer = NameNormaliser(), Pairer(_NullSink())
        gc.collect()
        t = time.process_time()
        with model.gc_paused():
            for body in bodies:
                traces = model.decode_response(body)
                if depth == 1:
                    continue
                for trace in traces:
                    if depth == 2:  # the decoders decode_spans uses, without reading the tags
                        model._processes.decode(trace.processes)
                        for js in model._spans.decode(trace.spans):
                            js.tags  # noqa: B018
                    elif depth == 3:
                        model.decode_spans(trace, 1.0, names)
                    else:
                        pairer.add_all(model.decode_spans(trace, 1.0, names))
        return time.process_time() - t

    return run


STAGES = ("decode_response_traces_raw", "decode_spans_and_processes", "read_tags_build_span_records",
          "dedupe_and_pairing", "aggregation_and_trace_marks")


def _orjson_decode(bodies: list[bytes]) -> float:
    from observe.traces.model import gc_paused

    gc.collect()
    t = time.process_time()
    with gc_paused():  # as in Ingest.feed: a ceiling with the GC on would flatter the pipeline
        for body in bodies:
            orjson.loads(body)
    return time.process_time() - t


class _Tag(msgspec.Struct):
    key: str
    value: Any


class _Ref(msgspec.Struct):
    spanID: str
    refType: str


class _Span(msgspec.Struct):
    traceID: str
    spanID: str
    operationName: str
    references: list[_Ref]
    startTime: int
    duration: int
    tags: list[_Tag]
    processID: str


class _Proc(msgspec.Struct):
    serviceName: str


class _Trace(msgspec.Struct):
    traceID: str
    spans: list[_Span]
    processes: dict[str, _Proc]


class _Resp(msgspec.Struct):
    data: list[_Trace]


def _typed_decode(bodies: list[bytes]) -> float:
    from observe.traces.model import gc_paused

    dec = msgspec.json.Decoder(_Resp)
    gc.collect()
    t = time.process_time()
    with gc_paused():
        for body in bodies:
            dec.decode(body)
    return time.process_time() - t


RUNS = 5


def _median_rates(measures: dict[str, tuple[Any, list[bytes]]], spans: int, runs: int = RUNS) -> dict[str, float]:
    """Spans per CPU second of each measure, the median of `runs` rounds.

    The rounds interleave the measures, so a burst of load from other work on the machine slows every
    measure of one round rather than every run of one measure: the ratios stay comparable.
    """
    times: dict[str, list[float]] = {name: [] for name in measures}
    for fn, bodies in measures.values():  # warm-up, not timed: imports, decoder set-up, allocator arenas
        fn(bodies[:2])
    for _ in range(runs):
        for name, (fn, bodies) in measures.items():
            times[name].append(fn(bodies))
    return {name: spans / statistics.median(t) for name, t in times.items()}


def _rss_child(n_spans: int) -> None:
    """In a fresh process: feed n_spans into a window that never evicts, print RSS figures as JSON."""
    from observe.traces.aggregate import RedAggregates
    from observe.traces.ingest import Ingest

    def rss_kib() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    ingest = Ingest(RedAggregates())
    base = responses(2_000)  # 16k spans; each round below re-labels their ids, so every span is new
    before = rss_kib()
    fed = 0
    for round_no in range(256):
        tag = b"%02x" % round_no
        for body in base:
            if fed >= n_spans:
                break
            ingest.feed(body.replace(b'"traceID":"', b'"traceID":"' + tag).replace(b'"spanID":"', b'"spanID":"' + tag))
            fed += TRACES_PER_RESPONSE * SPANS_PER_TRACE
        if fed >= n_spans:
            break
    gc.collect()
    after = rss_kib()
    p = ingest.pairer
    print(json.dumps({"spans_in_window": len(p.seen), "rss_mib": round(after / 1024, 1),
                      "window_mib": round((after - before) / 1024, 1), "waiting_clients": len(p.clients)}))


def run(results_dir: Path) -> dict[str, Any]:
    """Measure and write bench/results/traces.json; returns the figures."""
    n_traces = 25_000
    path_bodies = responses(n_traces)  # operation names carry the request path with ids: worst case for names
    bodies = [istio_default_names(b) for b in path_bodies]
    spans = n_traces * SPANS_PER_TRACE
    rates = _median_rates({
        "pipeline": (_pipeline, bodies), "pipeline_paths": (_pipeline, path_bodies), "refetch": (_refetch, bodies),
        "orjson": (_orjson_decode, bodies), "typed": (_typed_decode, bodies),
        **{f"cut{depth}": (_stage(depth), bodies) for depth in range(1, 5)},
    }, spans)
    pipeline, pipeline_paths, refetch = rates["pipeline"], rates["pipeline_paths"], rates["refetch"]
    orjson_rate, typed_rate = rates["orjson"], rates["typed"]
    # Where the time goes: each stage's cost per span is the difference between cumulative cuts.
    cuts = [1 / rates[f"cut{depth}"] for depth in range(1, 5)] + [1 / pipeline]
    stage_us = {name: round((cut - prev) * 1e6, 2) for name, cut, prev in zip(STAGES, cuts, [0.0, *cuts], strict=False)}
    child = subprocess.run([sys.executable, "-m", "bench.bench_traces", "--rss", "1000000"],
                           capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    rss = json.loads(child.stdout.strip().splitlines()[-1])
    result = {
        "bench": "traces",
        "input": {"spans": spans, "bytes_per_span": round(sum(map(len, bodies)) / spans),
                  "responses": len(bodies), "tags_per_span": 22},
        "spans_per_cpu_second": {
            "pipeline_decode_pair_aggregate": round(pipeline),
            "pipeline_with_ids_in_span_names": round(pipeline_paths),
            "pipeline_refetch_of_known_traces": round(refetch),
            "ceiling_orjson_decode_only": round(orjson_rate),
            "ceiling_msgspec_typed_decode_only": round(typed_rate),
        },
        "ratios": {"pipeline_vs_orjson_decode": round(pipeline / orjson_rate, 2),
                   "pipeline_vs_typed_decode": round(pipeline / typed_rate, 2),
                   "pipeline_vs_target_100k": round(pipeline / 100_000, 2)},
        "stage_us_per_span": stage_us,
        "memory_1m_spans": rss,
        "runs": RUNS,
        "rounds": "interleaved",
        "statistic": "median",
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "traces.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--rss":
        _rss_child(int(sys.argv[2]))
    else:
        print(json.dumps(run(Path(__file__).resolve().parent / "results"), indent=2))
