"""Two trace pullers sharded by trace ID on one real Jaeger, at a size the test does not reach (issue 16, part 3).

Jaeger v2 (the project's peer, in-memory Badger) gets REQUESTS Bookinfo page views over OTLP from
opentelemetry-sdk, 8 Istio-shaped Envoy spans each, one in FAIL_EVERY failing at ratings. Each round then
pulls the same window three times with fresh pullers and fresh state: one unsharded puller, shard 0 and shard 1
of 2, one after the other (who goes first rotates), so that each one's CPU and Jaeger's CPU while it pulls are
its own. Our CPU is the bench process's (the pullers run in it; opentelemetry-sdk's idle export threads too).

- **Exact.** Every round, shard 0's and shard 1's servicegraph and spanmetrics samples add up to the unsharded
  puller's, sample for sample, and the spans the two accept add up to the spans seeded.
- **Restart.** After the rounds, RESTART_REQUESTS more page views arrive; shard 1 is closed and started again from
  its state file, and every puller pulls again: the shards still add up to the unsharded puller, so nothing
  was counted twice or lost.
- **Cost.** Our process's CPU seconds per pull (decode, pairing, aggregation, rendering), Jaeger's CPU seconds
  while it answers that pull, and the requests and answer bytes the pull took, as medians of ROUNDS; and the ratios
  a second puller costs: each shard's CPU against one unsharded puller's, and Jaeger's CPU for both shards against
  one puller's.
- **Steady state.** The pulls above each take a whole burst at once; a running puller instead pulls every
  `interval_seconds` what arrived since, plus `overlap_seconds` again. STEADY_RATE page views per second over
  STEADY_SECONDS (another mesh, so other service names) are pulled by one puller with the shipped defaults for
  interval, overlap, settle and limit, its clock stepped one interval per tick: the CPU (ours and Jaeger's),
  requests and answer bytes per seeded span over all ticks, and every span accepted once.

Run: `python -m bench` (all benches) or `python -m bench traces_shards`.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procfs import cpu_s

REQUESTS = 2000
SEED_CHUNK = 250  # page views per flush: opentelemetry-sdk's batch queue holds 2,048 spans per workload
FAIL_EVERY = 5
RESTART_REQUESTS = 500
ROUNDS = 3
SPANS_PER_REQUEST = 8
STEADY_RATE = 10  # page views per second: 750 traces per service in each 75 s query window, under the limit
STEADY_SECONDS = 120


async def _seed(peer: Any, mesh: Any, requests: int, start_s: float, spacing_s: float = 0.01,
                fail_every: int = FAIL_EVERY) -> None:
    from tests.integration.traces.test_puller_jaeger import seed, wait_spans

    for first in range(0, requests, SEED_CHUNK):
        await seed(peer, mesh, min(SEED_CHUNK, requests - first), start_s=start_s + first * spacing_s,
                   fail_every=fail_every, spacing_s=spacing_s)
    await wait_spans(peer, mesh, start_s, requests * SPANS_PER_REQUEST)


async def _pull(puller: Any, jaeger_pid: int) -> dict[str, float]:
    """One pull of everything up to now: our CPU, Jaeger's CPU, the wall time, and the requests and bytes it took."""
    asked = {"requests": 0, "answer_mb": 0.0}
    real = puller.client.traces

    async def counted(*args: Any) -> Any:
        api, body = await real(*args)
        asked["requests"] += 1
        asked["answer_mb"] += len(body) / 1e6
        return api, body

    puller.client.traces = counted
    ours, theirs, wall = time.process_time(), cpu_s(jaeger_pid), time.monotonic()
    try:
        if not await puller.tick():
            raise RuntimeError(f"the puller could not pull from Jaeger: {puller.last_error}")
    finally:
        puller.client.traces = real
    return {"cpu_s": time.process_time() - ours, "jaeger_cpu_s": cpu_s(jaeger_pid) - theirs,
            "wall_s": time.monotonic() - wall, **asked}


async def _steady(peer: Any, work: Path) -> dict[str, Any]:
    """STEADY_RATE page views a second for STEADY_SECONDS, pulled tick by tick as a running puller would."""
    from prometheus_client import CollectorRegistry

    from observe.traces.config import TracesConfig
    from observe.traces.puller import Puller
    from tests.integration.traces.istio_mesh import Mesh

    mesh = Mesh(str(peer.extra["otlp_http"]))
    views = STEADY_RATE * STEADY_SECONDS
    t0 = time.time() - STEADY_SECONDS - 600  # all of it in the past: the puller's clock is simulated
    await _seed(peer, mesh, views, t0, spacing_s=1 / STEADY_RATE, fail_every=0)
    defaults = TracesConfig()
    clock = [t0 + defaults.settle_seconds]
    puller = Puller(TracesConfig(jaeger_url=peer.url, services=mesh.services(),
                                 initial_lookback_seconds=defaults.interval_seconds,
                                 state_file=work / "steady-state.msgpack"), CollectorRegistry(), now=lambda: clock[0])
    ticks: list[dict[str, float]] = []
    try:
        while clock[0] < t0 + STEADY_SECONDS + defaults.settle_seconds + defaults.interval_seconds:
            clock[0] += defaults.interval_seconds
            ticks.append(await _pull(puller, peer.proc.pid))
        accepted = puller.ingest.pairer.accepted
    finally:
        await puller.close()
        await asyncio.to_thread(mesh.shutdown)
    spans = views * SPANS_PER_REQUEST
    if accepted != spans:
        raise RuntimeError(f"steady state: {accepted} spans accepted of {spans} seeded")
    total = {k: sum(t[k] for t in ticks) for k in ("cpu_s", "jaeger_cpu_s", "requests", "answer_mb")}
    return {"page_views_per_s": STEADY_RATE, "seconds": STEADY_SECONDS, "spans": spans, "spans_accepted": accepted,
            "interval_seconds": defaults.interval_seconds, "overlap_seconds": defaults.overlap_seconds,
            "limit": defaults.limit, "ticks": len(ticks),
            "cpu_s": round(total["cpu_s"], 3), "jaeger_cpu_s": round(total["jaeger_cpu_s"], 2),
            "requests": total["requests"], "answer_mb": round(total["answer_mb"], 3),
            "answer_bytes_per_seeded_span": round(total["answer_mb"] * 1e6 / spans),
            "seeded_spans_per_cpu_second": round(spans / total["cpu_s"]),
            "jaeger_cpu_us_per_seeded_span": round(total["jaeger_cpu_s"] * 1e6 / spans),
            "ticks_detail": ticks}


def _median(rows: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(r[key] for r in rows), 3)


async def _bench(work: Path) -> dict[str, Any]:
    from tests.integration.traces.istio_mesh import Mesh
    from tests.integration.traces.test_puller_jaeger import make_puller
    from tests.integration.traces.test_puller_shards import add, same, snap
    from tests.peers import jaeger

    peer = jaeger.start(work / "jaeger")
    try:
        pid = peer.proc.pid
        mesh = Mesh(str(peer.extra["otlp_http"]))
        t0 = time.time() - 60
        print(f"traces_shards: seeding {REQUESTS} page views ({REQUESTS * SPANS_PER_REQUEST} spans)", file=sys.stderr)
        await _seed(peer, mesh, REQUESTS, t0)
        runs: dict[str, list[dict[str, float]]] = {"unsharded": [], "shard_0": [], "shard_1": []}
        accepted: dict[str, int] = {}
        for n in range(ROUNDS):
            print(f"traces_shards: round {n + 1} of {ROUNDS}", file=sys.stderr)
            whole = make_puller(peer, mesh, work / f"r{n}-one")
            shards = [make_puller(peer, mesh, work / f"r{n}-s{i}", shard=i, total_shards=2) for i in range(2)]
            order = [("unsharded", whole), ("shard_0", shards[0]), ("shard_1", shards[1])]
            for name, puller in order[n % 3:] + order[:n % 3]:  # who pulls first (a colder Jaeger) rotates
                runs[name].append(await _pull(puller, pid))
            parts = [await snap(p) for p in shards]
            if not same(add(*parts), await snap(whole)):
                raise RuntimeError(f"round {n + 1}: the two shards' samples do not add up to the unsharded puller's")
            accepted = {"unsharded": whole.ingest.pairer.accepted,
                        **{f"shard_{i}": p.ingest.pairer.accepted for i, p in enumerate(shards)}}
            if not accepted["shard_0"] + accepted["shard_1"] == accepted["unsharded"] == REQUESTS * SPANS_PER_REQUEST:
                raise RuntimeError(f"round {n + 1}: spans accepted {accepted}, seeded {REQUESTS * SPANS_PER_REQUEST}")
            if n < ROUNDS - 1:
                for p in (whole, *shards):
                    await p.close()

        # The last round's pullers go on: more traffic, shard 1 restarted from its state file, everyone pulls again.
        print(f"traces_shards: {RESTART_REQUESTS} more page views, shard 1 restarted", file=sys.stderr)
        before = await snap(shards[1])
        await shards[1].close()
        t1 = time.time() - 10
        await _seed(peer, mesh, RESTART_REQUESTS, t1)
        restarted = make_puller(peer, mesh, work / f"r{ROUNDS - 1}-s1", shard=1, total_shards=2)
        await asyncio.to_thread(restarted.load_state)  # as the service does
        for p in (restarted, shards[0], whole):
            await _pull(p, pid)
        after = await snap(restarted)
        restart_exact = same(add(await snap(shards[0]), before, after), await snap(whole))
        if not restart_exact:
            raise RuntimeError("after the restart the shards no longer add up to the unsharded puller")
        for p in (whole, shards[0], restarted):
            await p.close()
        print(f"traces_shards: steady state, {STEADY_RATE} page views/s for {STEADY_SECONDS} s", file=sys.stderr)
        steady = await _steady(peer, work)
    finally:
        peer.stop()

    keys = ("cpu_s", "jaeger_cpu_s", "wall_s", "requests", "answer_mb")
    one = {k: _median(runs["unsharded"], k) for k in keys}
    per_shard = {name: {k: _median(runs[name], k) for k in keys} for name in ("shard_0", "shard_1")}
    spans = REQUESTS * SPANS_PER_REQUEST
    return {
        "requests": REQUESTS, "spans": spans, "rounds": ROUNDS, "statistic": "median of rounds",
        "exact_every_round": True, "restart_requests": RESTART_REQUESTS, "restart_exact": restart_exact,
        "spans_accepted_last_round": accepted,
        "unsharded": one, **per_shard,
        "runs": runs,
        "unsharded_spans_per_cpu_second": round(spans / one["cpu_s"]),
        # How often each span came back: every trace is in the answer of each of the 5 services it touches, and a
        # full answer (`limit` traces) is asked again in pieces.
        "answer_bytes_per_seeded_span": round(one["answer_mb"] * 1e6 / spans),
        "ratios": {
            "shard_cpu_over_unsharded": {name: round(v["cpu_s"] / one["cpu_s"], 2) for name, v in per_shard.items()},
            "both_shards_cpu_over_unsharded": round(sum(v["cpu_s"] for v in per_shard.values()) / one["cpu_s"], 2),
            "jaeger_cpu_two_pullers_over_one": round(
                sum(v["jaeger_cpu_s"] for v in per_shard.values()) / one["jaeger_cpu_s"], 2),
        },
        "steady": steady,
    }


def run(results_dir: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(_bench(Path(tmp)))


if __name__ == "__main__":
    import json

    print(json.dumps(run(Path("bench/results")), indent=2))
