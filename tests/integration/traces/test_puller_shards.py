"""Two trace pullers sharded by trace ID on one real Jaeger: together they count exactly what one puller counts,
and a puller restarted mid-run from its state file counts nothing twice."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path

import pytest

from observe.traces.ingest import trace_shard
from observe.traces.puller import Puller
from tests.integration.traces.istio_mesh import Mesh
from tests.integration.traces.test_puller_jaeger import Sample, make_puller, metrics, seed, wait_spans
from tests.peers.base import Peer

pytestmark = pytest.mark.integration

RED = ("traces_service_graph_", "traces_span_metrics_")


def red(m: dict[Sample, float]) -> dict[Sample, float]:
    """The servicegraph and spanmetrics samples (the pullers' own counters differ by design)."""
    return {k: v for k, v in m.items() if k[0].startswith(RED)}


def same(a: dict[Sample, float], b: dict[Sample, float]) -> bool:
    """Equal sample for sample; `_sum`s exactly up to float rounding (their terms add up in another order)."""
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=1e-9) for k in a)


async def snap(puller: Puller) -> dict[Sample, float]:
    """The puller's RED samples, parsed off the event loop (a few thousand samples take ~0.1 s of CPU)."""
    return await asyncio.to_thread(lambda: red(metrics(puller)))


def add(*parts: dict[Sample, float]) -> dict[Sample, float]:
    """Sample-wise sum that keeps zero-valued samples (collections.Counter's + would drop them)."""
    out: dict[Sample, float] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out.get(k, 0.0) + v
    return out


def test_trace_shards_split_ids_of_both_lengths_alike() -> None:
    ids = [f"{i:032x}" for i in range(1, 2000)]
    assert all(trace_shard(i, 2) == trace_shard(i.lstrip("0"), 2) == trace_shard(i[16:], 2) for i in ids
               if i[:16] == "0" * 16)
    share = sum(trace_shard(f"{i * 2654435761:032x}", 2) for i in range(2000)) / 2000
    assert 0.4 < share < 0.6


async def test_two_sharded_pullers_add_up_to_one_exactly(jaeger: Peer, tmp_path: Path) -> None:
    mesh = Mesh(jaeger.extra["otlp_http"])  # type: ignore[arg-type]
    t0 = time.time() - 30
    await seed(jaeger, mesh, 40, start_s=t0, fail_every=5)
    await wait_spans(jaeger, mesh, t0, 320)

    whole = make_puller(jaeger, mesh, tmp_path / "one")
    assert await whole.tick()
    shards = [make_puller(jaeger, mesh, tmp_path / f"s{i}", shard=i, total_shards=2) for i in range(2)]
    for puller in shards:
        assert await puller.tick()
    one, parts = await snap(whole), [await snap(p) for p in shards]
    assert all(parts), "each shard should own some of 40 traces"
    assert same(add(parts[0], parts[1]), one)
    assert sum(v for (name, _), v in one.items() if name == "traces_service_graph_request_total") == 160
    # Every span is accepted by exactly one shard; each shard also saw the other's traces (once per service asked,
    # as Jaeger answers a trace for every service it touches) and counted their spans as another shard's.
    accepted = [p.ingest.pairer.accepted for p in shards]
    assert sum(accepted) == whole.ingest.pairer.accepted == 320
    assert all(p.ingest.other_shard >= a for p, a in zip(shards, reversed(accepted), strict=True))

    # Restart shard 1 from its state file after more traffic: the new traces are counted once, the old not again
    # (its counters start from zero, as a restarted process's do; Prometheus' increase() joins the two).
    before_restart = parts[1]
    await shards[1].close()
    t1 = time.time() - 10
    await seed(jaeger, mesh, 20, start_s=t1)
    await wait_spans(jaeger, mesh, t1, 160)
    restarted = make_puller(jaeger, mesh, tmp_path / "s1", shard=1, total_shards=2)
    await asyncio.to_thread(restarted.load_state)  # as the service does
    assert await restarted.tick()
    assert await shards[0].tick()
    assert await whole.tick()
    after = await snap(restarted)
    assert after, "the restarted shard should own some of the 20 new traces"
    assert same(add(await snap(shards[0]), before_restart, after), await snap(whole))
    for p in (whole, shards[0], restarted):
        await p.close()
