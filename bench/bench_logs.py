"""Log shipper throughput and memory, on 200-byte CRI lines.

1. Null sink (the read, decode and encode ceiling): lines/s and CPU-s per million lines, one core, median of 3;
   set against a minimal read/split/encode loop (the floor a Python shipper can reach) in the same run.
2. A real Elasticsearch node: the shipper end to end, set against the node's own ceiling for the same bulk
   bodies sent by a minimal loader (same concurrency, same process), alternated over an even number of rounds,
   medians of the paired ratios (bench_elasticsearch says what keeps the pair fair); once with the node and the
   client sharing the cores (`elasticsearch`), once with the node on CPU 0 alone (`elasticsearch_own_core`).
3. Peak RSS of `observe ship` while Elasticsearch is down and a backlog file waits (OBSERVE_BENCH_BACKLOG_MB).
4. The per-file processors that take a file off the CRI fast path (multiline auto on a mix with Java traces and on
   a mix with traces of all eight languages, the json and nginx parsers), into the null sink, each set against
   the fast path on plain lines in the same run.

Run: `python -m bench logs` (or `make bench` for every benchmark).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from prometheus_client import CollectorRegistry

from bench.procfs import cpu_s
from bench.provenance import LoadSampler, provenance
from observe.config import ElasticsearchConfig
from observe.logs.config import LogsConfig
from observe.logs.metrics import ShipperMetrics
from observe.logs.plan import PlanSlot, Settings
from observe.logs.shipper import Shipper
from observe.logs.sinks.elasticsearch.config import SinkConfig
from observe.logs.sinks.elasticsearch.request import BULK_PATH
from observe.logs.sinks.elasticsearch.sink import ElasticsearchSink
from observe.logs.sinks.null import NullSink
from observe.logs.sinks.protocol import Sink
from observe.logs.sinks.spool import SpoolSink, spool_files

LINE_BYTES = 200
NULL_LINES = int(os.environ.get("OBSERVE_BENCH_NULL_LINES", "1000000"))
ES_LINES = int(os.environ.get("OBSERVE_BENCH_ES_LINES", "200000"))
# Rounded up to even; 12 runs each of the three runs' (loader, shipper, shipper on restart) six orders twice. Six
# rounds gave medians 0.86-0.95 for the same code on 2026-12-04: the node's own speed drifts between runs.
ES_ROUNDS = int(os.environ.get("OBSERVE_BENCH_ES_ROUNDS", "12"))
# Warm-up runs into a stream of their own before the first timed run: a fresh node's first rounds ran at half the
# speed of its later ones (JIT, caches, merges).
ES_WARMUP_RUNS = int(os.environ.get("OBSERVE_BENCH_ES_WARMUP_RUNS", "3"))
RESTART_ROUNDS = int(os.environ.get("OBSERVE_BENCH_RESTART_ROUNDS", "6"))  # restart_rollover's rounds
BACKLOG_MB = int(os.environ.get("OBSERVE_BENCH_BACKLOG_MB", "1024"))
PROC_LINES = int(os.environ.get("OBSERVE_BENCH_PROC_LINES", "300000"))
TS = b"2024-05-01T12:34:56.123456789Z"


def cri_lines(n: int, start: int = 0) -> bytes:
    """n CRI lines of exactly LINE_BYTES bytes each."""
    head = TS + b" stdout F "
    room = LINE_BYTES - len(head) - 1
    filler = b'GET /api/v1/items?id=42 200 "Mozilla/5.0 (X11; Linux x86_64)" took=12ms user=alice trace=abcdef0123456789 '
    filler = (filler * 4)[: room - 9]
    return b"".join(head + b"%08d " % i + filler + b"\n" for i in range(start, start + n))


def log_path(folder: Path) -> Path:
    """The kubelet-shaped path of the one log file a run reads."""
    pod = folder / "pods" / "bench_web-0_0b1c2d3e-aaaa-bbbb-cccc-1234567890ab" / "app"
    pod.mkdir(parents=True, exist_ok=True)
    return pod / "0.log"


def write_log(folder: Path, n: int) -> Path:
    """A kubelet-shaped log file of n lines."""
    path = log_path(folder)
    with path.open("wb") as f:
        for block in range(0, n, 100_000):
            f.write(cri_lines(min(100_000, n - block), block))
    return path


def logs_config(folder: Path, **kw: Any) -> LogsConfig:
    return LogsConfig(paths=[str(folder / "pods" / "*" / "*" / "*.log")], checkpoint_path=folder / f"cp-{time.time_ns()}.json",
                      spool_dir=folder / "spool", host_name="bench-node", linger_ms=50, **kw)


async def run_pipeline(config: LogsConfig, sink_factory: Any, n: int, provider: Any = None,
                       lines: int | None = None, grow: tuple[Path, Path] | None = None) -> dict[str, float]:
    """Ship until n events are acknowledged; wall and CPU seconds, per physical line (`lines`, default n).

    With `grow` = (source, log), the log file is empty when the shipper starts and `dd` (another process, so its
    CPU is not counted) appends the source to it once the sink is set up (its templates and data stream checked):
    lines that arrive while the shipper runs, the steady state, timed from that moment, as the loader's run is
    timed after its own setup (`setup_s` is what the sink's took). Without it the lines are in the file before the
    start, which is the restart path: an earlier run may have sent them, so every batch is looked up first; it
    is timed from the start, setup included.
    """
    registry = CollectorRegistry()
    metrics = ShipperMetrics(registry)
    sink: Sink = sink_factory(metrics)
    shipper = Shipper(config, sink, metrics, provider=provider)
    acked = [metrics.events_acked.labels(o) for o in ("delivered", "duplicate")]
    if grow is not None:
        grow[1].write_bytes(b"")
    t0, c0 = time.perf_counter(), time.process_time()
    await shipper.start()
    setup_s = 0.0
    if grow is not None:
        while not sink.ready()[0]:  # noqa: ASYNC110 - the Sink protocol offers ready(), not an event
            await asyncio.sleep(0.002)
        setup_s = time.perf_counter() - t0
        t0, c0 = time.perf_counter(), time.process_time()
        dd = await asyncio.create_subprocess_exec("dd", f"if={grow[0]}", f"of={grow[1]}", "bs=1M", "oflag=append",
                                                  "conv=notrunc", "status=none")
        if await dd.wait() != 0:
            raise RuntimeError(f"dd could not append {grow[0]} to {grow[1]}")
    while sum(c._value.get() for c in acked) < n:  # noqa: ASYNC110 - polling a counter is the point
        await asyncio.sleep(0.01)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    await shipper.stop()
    per = lines or n
    requests = registry.get_sample_value("observe_shipper_bulk_duration_seconds_count") or 0.0
    return {"wall_s": wall, "cpu_s": cpu, "lines_per_s": per / wall, "cpu_s_per_million": cpu / per * 1e6,
            "bulk_requests": requests, "setup_s": setup_s}


def reference_loop(path: Path) -> dict[str, float]:
    """The floor: read 1 MiB chunks, split lines and CRI fields, build bulk NDJSON with ids and pre-encoded metadata."""
    meta = orjson.dumps({"kubernetes": {"namespace": "bench", "pod": {"name": "web-0"}}, "host": {"name": "n"}})[1:-1]
    tmpl = b'{"create":{"_id":"k-%d"}}\n{"@timestamp":"%s","message":%s,"log":{"offset":%d,"iostream":"%s"},' + meta + b"}\n"
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    with path.open("rb") as f:
        carry = b""
        off = 0
        while chunk := f.read(1 << 20):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            out = []
            for line in lines:
                ts, stream, _, msg = line.split(b" ", 3)
                out.append(tmpl % (off, ts, orjson.dumps(msg.decode()), off, stream))
                off += len(line) + 1
            b"".join(out)
            n += len(lines)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"lines_per_s": n / wall, "cpu_s_per_million": cpu / n * 1e6}


def bench_null(folder: Path) -> dict[str, Any]:
    path = write_log(folder, NULL_LINES)
    # Same process, same interpreter settings (GC on in both), same file in the page cache; the rounds interleave
    # the two, so a busy moment on the shared machine hits both alike.
    runs, floors = [], []
    for _ in range(3):
        runs.append(asyncio.run(run_pipeline(logs_config(folder), NullSink, NULL_LINES)))
        floors.append(reference_loop(path))
    path.unlink()
    lps = statistics.median(r["lines_per_s"] for r in runs)
    floor_lps = statistics.median(r["lines_per_s"] for r in floors)
    return {
        "lines": NULL_LINES,
        "lines_per_s": round(lps),
        "cpu_s_per_million_lines": round(statistics.median(r["cpu_s_per_million"] for r in runs), 3),
        "reference_loop_lines_per_s": round(floor_lps),
        "reference_loop_cpu_s_per_million_lines": round(statistics.median(r["cpu_s_per_million"] for r in floors), 3),
        "ratio_to_reference_loop": round(lps / floor_lps, 3),
        "cpu_ratio_reference_loop_to_shipper": round(statistics.median(r["cpu_s_per_million"] for r in floors)
                                                    / statistics.median(r["cpu_s_per_million"] for r in runs), 3),
        "target_lines_per_s": 300_000,
    }


async def loader(url: str, bodies: list[bytes], concurrency: int) -> float:
    """The node's ceiling: post prepared bulk bodies with `concurrency` requests in flight; wall seconds."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    async with aiohttp.ClientSession(headers={"Content-Type": "application/x-ndjson"}) as session:
        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                while True:
                    async with session.post(url + BULK_PATH, data=body) as resp:
                        raw = await resp.read()
                    if resp.status == 200 and not raw.startswith(b'{"errors":true'):
                        break
                    await asyncio.sleep(0.1)  # the minimal loader retries whole bodies on any error

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0


def _settle(url: str, stream: str) -> None:
    """Flush the data stream a timed run wrote, so its background work does not land in the next timed run."""
    request = urllib.request.Request(f"{url}/{stream}/_flush?wait_if_ongoing=true", method="POST")
    with urllib.request.urlopen(request, timeout=120) as resp:
        resp.read()


def bench_elasticsearch(folder: Path, *, own_core: bool = False) -> dict[str, Any]:
    """The shipper end to end into a real node, paired with the node's own ceiling under the same conditions.

    With `own_core`, the node runs on CPU 0 alone (from its start, so the JVM sizes its pools for one core) and
    this process, the loader and the shipper on CPU 1, as in a cluster where the DaemonSet runs on the application
    nodes and Elasticsearch on its own: the client's CPU then takes nothing from the node, and the ratio says
    whether the client keeps the node as busy as the minimal loader does. Without it, the node and the client
    share both cores, and the ratio also counts the client's CPU against the node (`ratio_the_cpu_allows`).

    The shipper's headline runs are the steady state: the lines arrive after it started and set up its sink
    (`run_pipeline`'s `grow`), and the run is timed from then, as the loader's is timed after its setup.
    A third run per round ships the same lines from a file that was full at the start, the restart path, where
    every batch is looked up in the data stream's older backing indices first (reported under `restart`).

    Fair by construction: the loader posts exactly the bodies the shipper sends (its spool output, same batch
    sizes), at the same concurrency, from the same interpreter (same process, GC on in both, a fresh event loop
    and connection pool each). Every round's bodies are prepared before the first timed run and the disk synced,
    so no preparation competes with a timed run. Each timed run ends with a flush of what it wrote. The order
    alternates, and the round count is even, so each order weighs the same (an earlier odd count let the
    second-in-round advantage decide the median).
    """
    from tests.peers import elasticsearch as es_peer

    es_peer.install()
    cores = os.sched_getaffinity(0)
    if own_core:
        if not {0, 1} <= cores:
            raise RuntimeError(f"the own-core case needs CPUs 0 and 1; this process may run on {sorted(cores)}")
        os.sched_setaffinity(0, {0})  # the node inherits CPU 0 alone
    try:
        peer = es_peer.start(folder / "es")
    finally:
        os.sched_setaffinity(0, {1} if own_core else cores)
    rounds = ES_ROUNDS + ES_ROUNDS % 2
    try:
        log = write_log(folder, ES_LINES)
        source = folder / "source.log"
        shutil.copyfile(log, source)
        es_cfg = ElasticsearchConfig(url=peer.url)  # type: ignore[call-arg]
        loader_lps: list[float] = []
        shipper_lps: list[float] = []
        shipper_cpu: list[float] = []
        shipper_requests: list[int] = []
        shipper_setup: list[float] = []
        restart_lps: list[float] = []
        restart_cpu: list[float] = []
        restart_node: list[float] = []
        for _ in range(ES_WARMUP_RUNS):  # JIT and caches of a fresh node
            warm = logs_config(folder, data_stream="logs-bench.warmup-default")
            asyncio.run(run_pipeline(warm, lambda m, c=warm: ElasticsearchSink(SinkConfig(es_cfg, c), m), ES_LINES))
        prepared = []
        for rnd in range(rounds):  # the loader's bodies: exactly what the shipper sends, for another data stream
            spool = folder / f"spool{rnd}"
            cfg = logs_config(folder, data_stream=f"logs-bench.loader{rnd}-default")
            asyncio.run(run_pipeline(cfg, lambda m, s=spool: SpoolSink(s, m), ES_LINES))
            prepared.append((cfg, [p.read_bytes() for p in spool_files(spool)]))
            shutil.rmtree(spool)
        os.sync()
        _settle(peer.url, "logs-bench.warmup-default")
        loader_bodies = prepared[0][1]

        async def load(cfg: LogsConfig, bodies: list[bytes]) -> float:
            sink = ElasticsearchSink(SinkConfig(es_cfg, cfg), ShipperMetrics(CollectorRegistry()))
            await sink.setup()  # the index template and data stream, as the shipper's start does
            await sink.close()
            return await loader(peer.url, bodies, cfg.max_in_flight)

        # Where the two cores go: the node's CPU (the JVM's utime + stime) and the client's, per timed run.
        node_cpu: dict[str, list[float]] = {"loader": [], "shipper": []}
        loader_cpu: list[float] = []
        busy: dict[str, list[float]] = {"loader": [], "shipper": []}

        def ship(rnd: int) -> None:
            cfg = logs_config(folder, data_stream=f"logs-bench.shipper{rnd}-default")
            n0 = cpu_s(peer.proc.pid)
            r = asyncio.run(run_pipeline(cfg, lambda m, c=cfg: ElasticsearchSink(SinkConfig(es_cfg, c), m), ES_LINES,
                                         grow=(source, log)))
            node = cpu_s(peer.proc.pid) - n0
            shipper_lps.append(r["lines_per_s"])
            shipper_cpu.append(r["cpu_s_per_million"])
            shipper_requests.append(int(r["bulk_requests"]))
            shipper_setup.append(r["setup_s"])
            node_cpu["shipper"].append(node / ES_LINES * 1e6)
            busy["shipper"].append((node + r["cpu_s_per_million"] * ES_LINES / 1e6) * r["lines_per_s"] / ES_LINES)
            _settle(peer.url, cfg.data_stream)

        def ship_restart(rnd: int) -> None:
            # The same lines already in the file at the start: each batch is looked up before it is sent.
            cfg = logs_config(folder, data_stream=f"logs-bench.restart{rnd}-default")
            n0 = cpu_s(peer.proc.pid)
            r = asyncio.run(run_pipeline(cfg, lambda m, c=cfg: ElasticsearchSink(SinkConfig(es_cfg, c), m), ES_LINES))
            restart_node.append((cpu_s(peer.proc.pid) - n0) / ES_LINES * 1e6)
            restart_lps.append(r["lines_per_s"])
            restart_cpu.append(r["cpu_s_per_million"])
            _settle(peer.url, cfg.data_stream)

        def ceiling(rnd: int) -> None:
            cfg, bodies = prepared[rnd]
            n0, c0 = cpu_s(peer.proc.pid), time.process_time()
            wall = asyncio.run(load(cfg, bodies))
            node, client = cpu_s(peer.proc.pid) - n0, time.process_time() - c0
            loader_lps.append(ES_LINES / wall)
            node_cpu["loader"].append(node / ES_LINES * 1e6)
            loader_cpu.append(client / ES_LINES * 1e6)
            busy["loader"].append((node + client) / wall)
            _settle(peer.url, cfg.data_stream)

        # Each round runs the three in one of their six orders, so every order weighs the same over 6 rounds.
        perms = list(itertools.permutations((ceiling, ship, ship_restart)))
        before = [p for p in perms if p.index(ceiling) < p.index(ship)]
        # Alternating rounds put the loader before and after the shipper, as with two runs a round before.
        orders = [o for pair in zip(before, [p for p in perms if p not in before], strict=True) for o in pair]
        loader_first: list[bool] = []
        for rnd in range(rounds):
            order = orders[rnd % len(orders)]
            loader_first.append(order.index(ceiling) < order.index(ship))
            for run_one in order:
                run_one(rnd)
        paired = [s / c for s, c in zip(shipper_lps, loader_lps, strict=True)]
        paired_restart = [s / c for s, c in zip(restart_lps, loader_lps, strict=True)]
        by_order = list(zip(paired, loader_first, strict=True))
        return {
            "median_paired_ratio": round(statistics.median(paired), 3),
            "paired_ratios": [round(x, 3) for x in paired],
            "median_ratio_loader_first": round(statistics.median(p for p, f in by_order if f), 3),
            "median_ratio_shipper_first": round(statistics.median(p for p, f in by_order if not f), 3),
            "mode": "steady state: the lines arrive after the shipper started (the restart path is under `restart`)",
            "restart": {
                "median_paired_ratio": round(statistics.median(paired_restart), 3),
                "paired_ratios": [round(x, 3) for x in paired_restart],
                "shipper_lines_per_s": round(statistics.median(restart_lps)),
                "shipper_cpu_s_per_million_lines": round(statistics.median(restart_cpu), 3),
                "node_cpu_s_per_million_lines": round(statistics.median(restart_node), 2),
            },
            "lines": ES_LINES,
            "engine": f"Elasticsearch {es_peer.VERSION} core node (512 MiB heap, "
                      + ("on CPU 0 alone; the loader and the shipper on CPU 1)" if own_core else "same 2 cores)"),
            "node_ceiling_lines_per_s": round(statistics.median(loader_lps)),
            "shipper_lines_per_s": round(statistics.median(shipper_lps)),
            "shipper_cpu_s_per_million_lines": round(statistics.median(shipper_cpu), 3),
            "ratio_to_node_ceiling": round(statistics.median(shipper_lps) / statistics.median(loader_lps), 3),
            "target_ratio": 0.95,  # issue 18
            "runs_loader": [round(x) for x in loader_lps],
            "runs_shipper": [round(x) for x in shipper_lps],
            "loader_requests": len(loader_bodies),
            "loader_mean_body_bytes": round(sum(map(len, loader_bodies)) / len(loader_bodies)),
            "shipper_requests": shipper_requests,
            "shipper_setup_s_median": round(statistics.median(shipper_setup), 3),  # before the timer starts
            **_cpu_budget(node_cpu, loader_cpu, shipper_cpu, busy),
        }
    finally:
        peer.stop()
        os.sched_setaffinity(0, cores)


def bench_elasticsearch_own_core(folder: Path) -> dict[str, Any]:
    """bench_elasticsearch with the node on a core of its own and the client on the other."""
    return bench_elasticsearch(folder, own_core=True)


def _cpu_budget(node_cpu: dict[str, list[float]], loader_cpu: list[float], shipper_cpu: list[float],
                busy: dict[str, list[float]]) -> dict[str, Any]:
    """Why the ratio is what it is on a machine the node and the client share: when both runs keep every core
    busy, lines/s = cores / (node + client CPU seconds per line), so the ratio the CPU alone allows is
    (node + loader) / (node + shipper) per line."""
    med = statistics.median
    node_l, node_s = med(node_cpu["loader"]), med(node_cpu["shipper"])
    return {
        "node_cpu_s_per_million_lines": {"loader_runs": round(node_l, 2), "shipper_runs": round(node_s, 2)},
        "loader_cpu_s_per_million_lines": round(med(loader_cpu), 2),
        "cores_busy": {"loader_runs": round(med(busy["loader"]), 2), "shipper_runs": round(med(busy["shipper"]), 2)},
        "ratio_the_cpu_allows": round((node_l + med(loader_cpu)) / (node_s + med(shipper_cpu)), 3),
    }


def _vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def bench_backlog_rss(folder: Path) -> dict[str, Any]:
    """`observe ship` as a process, Elasticsearch unreachable, a backlog file of BACKLOG_MB: peak RSS."""
    from tests.peers.base import free_port

    lines = BACKLOG_MB * 1024 * 1024 // LINE_BYTES
    write_log(folder, lines)
    port = free_port()
    config = {
        "service": {"host": "127.0.0.1", "port": port},
        "elasticsearch": {"url": f"http://127.0.0.1:{free_port()}"},  # nothing listens: the node is down
        "logs": {"paths": [str(folder / "pods" / "*" / "*" / "*.log")], "checkpoint_path": str(folder / "rss-cp.json"),
                 "host_name": "bench-node"},
    }
    cfg_path = folder / "rss.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    exe = str(Path(sys.executable).parent / "observe")
    idle_cfg = folder / "idle.yaml"
    idle = {**config, "service": {"host": "127.0.0.1", "port": free_port()},
            "logs": {**config["logs"], "paths": [str(folder / "nothing" / "*.log")], "checkpoint_path": str(folder / "i.json")}}
    idle_cfg.write_text(yaml.safe_dump(idle))
    proc = subprocess.Popen([exe, "ship", "--config", str(idle_cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(8)
    idle_rss = _vm(proc.pid, "VmHWM")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc = subprocess.Popen([exe, "ship", "--config", str(cfg_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(30)
        lag = 0.0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("observe_shipper_lag_bytes "):
                    lag = float(line.split()[1])
        peak = _vm(proc.pid, "VmHWM")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return {"backlog_mb": BACKLOG_MB, "lag_bytes_reported": int(lag), "peak_rss_mb": round(peak / 2**20, 1),
            "idle_rss_mb": round(idle_rss / 2**20, 1), "pipeline_rss_mb": round((peak - idle_rss) / 2**20, 1),
            "target_peak_rss_mb": 100}


def _cri(stream: bytes, text: str) -> bytes:
    return TS + b" " + stream + b" F " + text.encode() + b"\n"


def _pad(text: str, size: int, filler: str = " req=7f3a9c") -> str:
    """`text` grown (or cut) so that its CRI line is `size` bytes."""
    room = size - len(TS) - len(b" stdout F ") - 1
    while len(text) < room:
        text += filler
    return text[:room]


def _frame(i: int) -> str:
    # A Spring-shaped frame padded to the line size with deeper packages, as real proxies and filters are.
    tail = f".invoke{i}(Handler{i % 7}.java:{100 + i})"
    pkg = "\tat org.springframework"
    room = LINE_BYTES - len(TS) - len(b" stdout F ") - 1 - len(tail)
    for seg in ("web", "servlet", "mvc", "method", "annotation", "support", "security", "web", "access",
                "intercept", "filter", "context", "request", "async", "handler", "adapter", "invocation"):
        pkg += "." + seg
    return pkg[:room].rstrip(".") + tail


def java_mix(n_events: int) -> tuple[bytes, int, int]:
    """Events of 200-byte lines: 95 % one-line INFO logs, 5 % an ERROR line, its exception and 28 frames (30 lines)."""
    # Spring Boot writes its log and its traces to stdout, so one stream carries both.
    out: list[bytes] = []
    frames = [_cri(b"stdout", _frame(i)) for i in range(28)]
    head, logger, size = "2024-05-01 12:34:56.123", "c.e.shop.OrderController", LINE_BYTES
    for i in range(n_events):
        if i % 20 == 7:
            out.append(_cri(b"stdout", _pad(f"{head} ERROR 1 --- [nio-8080-exec-3] {logger} : order {i} not placed", size)))
            out.append(_cri(b"stdout", _pad(f"java.lang.IllegalStateException: inventory reservation {i} rejected", size)))
            out += frames
        else:
            out.append(_cri(b"stdout", _pad(f"{head}  INFO 1 --- [nio-8080-exec-3] {logger} : order {i} placed for alice", size)))
    return b"".join(out), len(out), n_events


# One trace per language for the polyglot mix (tests/unit/logs/multiline_cases), and the stream it is written to.
POLYGLOT = [("java", "servlet_caused_by", b"stdout"), ("javascript", "node_express", b"stderr"),
            ("csharp", "dotnet_async", b"stdout"), ("python", "logging_exception_chained", b"stderr"),
            ("go", "panic_goroutines", b"stderr"), ("ruby", "rails_routing", b"stdout"),
            ("php", "fatal_on_gae", b"stderr"), ("dart", "async_bad_state", b"stderr")]


def polyglot_mix(n_events: int) -> tuple[bytes, int, int]:
    """95 % one-line INFO logs (200 bytes), 5 % a whole trace, taking turns over the eight languages."""
    cases = Path(__file__).parent.parent / "tests" / "unit" / "logs" / "multiline_cases"
    traces = [([_cri(stream, line) for line in (cases / lang / f"{name}.log").read_text().split("\n")])
              for lang, name, stream in POLYGLOT]
    out: list[bytes] = []
    head, logger, turn = "2024-05-01 12:34:56.123", "c.e.shop.OrderController", 0
    for i in range(n_events):
        if i % 20 == 7:
            out += traces[turn % len(traces)]
            turn += 1
        else:
            text = f"{head}  INFO 1 --- [nio-8080-exec-3] {logger} : order {i} placed for alice"
            out.append(_cri(b"stdout", _pad(text, LINE_BYTES)))
    return b"".join(out), len(out), n_events


def json_lines(n: int) -> tuple[bytes, int, int]:
    """Structured application logs, one JSON object per CRI line (about 200 bytes)."""
    rows = (_cri(b"stdout", orjson.dumps({
        "ts": "2024-05-01T12:34:56.123Z", "level": "INFO", "logger": "shop.orders", "msg": f"order {i} placed",
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "user": "alice", "status": 200, "took_ms": 12}).decode())
        for i in range(n))
    return b"".join(rows), n, n


def nginx_lines(n: int) -> tuple[bytes, int, int]:
    """ingress-nginx access lines in its default log-format-upstream (about 330 bytes)."""
    rows = (_cri(b"stdout", (
        f'10.244.1.{i % 250} - - [01/May/2024:12:34:56 +0000] "GET /api/v1/items?id={i} HTTP/1.1" 200 512 '
        '"https://shop.example.com/" "Mozilla/5.0 (X11; Linux x86_64)" 312 0.004 [shop-web-8080] [] '
        f'10.244.2.7:8080 512 0.004 200 {i:032x}')) for i in range(n))
    return b"".join(rows), n, n


class _Attach:
    """A provider that gives every file the same processor settings (what annotations or defaults would do)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def resolve(self, slot: PlanSlot) -> None:
        slot.publish(replace(slot.current, settings=self.settings))

    def extra_paths(self) -> list[str]:
        return []


def bench_processing(folder: Path) -> dict[str, Any]:
    """Lines/s and CPU-s per million lines through each processor into the null sink, against the fast path."""
    n = PROC_LINES
    plain = b"".join(cri_lines(min(100_000, n - b), b) for b in range(0, n, 100_000))
    # name: (file bytes, physical lines, events, settings; None = no processor, the CRI fast path)
    cases: dict[str, tuple[bytes, int, int, Settings | None]] = {
        "fast_path_plain": (plain, n, n, None),
        "general_path_plain": (plain, n, n, Settings()),  # a processor that does nothing: the decoder's general path
        "multiline_auto_plain": (plain, n, n, Settings(multiline="auto")),
        "multiline_auto_java_mix": (*java_mix(n * 100 // 245), Settings(multiline="auto")),
        "multiline_java_java_mix": (*java_mix(n * 100 // 245), Settings(multiline="java")),
        "multiline_auto_polyglot_mix": (*polyglot_mix(n * 100 // 190), Settings(multiline="auto")),
        "parser_json": (*json_lines(n), Settings(parser="json")),
        "parser_nginx": (*nginx_lines(n), Settings(parser="nginx")),
    }
    out: dict[str, Any] = {}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    path = log_path(folder)
    for _ in range(3):
        # Rounds alternate over the cases, so a busy moment on the shared machine hits them all alike.
        for name, (data, n_lines, n_events, settings) in cases.items():
            path.write_bytes(data)
            provider = None if settings is None else _Attach(settings)
            # The last event stays open until its stream is quiet (multiline): count up to the one before it.
            want = n_events - 1 if settings is not None and settings.multiline != "none" else n_events
            runs[name].append(asyncio.run(run_pipeline(logs_config(folder), NullSink, want, provider, n_lines)))
            path.unlink()
    ref = statistics.median(r["lines_per_s"] for r in runs["fast_path_plain"])
    ref_cpu = statistics.median(r["cpu_s_per_million"] for r in runs["fast_path_plain"])
    for name, (data, n_lines, n_events, _) in cases.items():
        lps = statistics.median(r["lines_per_s"] for r in runs[name])
        cpu = statistics.median(r["cpu_s_per_million"] for r in runs[name])
        out[name] = {
            "lines": n_lines, "events": n_events, "mean_line_bytes": round(len(data) / n_lines),
            "lines_per_s": round(lps),
            "cpu_s_per_million_lines": round(cpu, 3),
            # Wall figures suffer when other work shares the 2 cores; one core's worth of CPU is the steadier one.
            "lines_per_cpu_s": round(1e6 / cpu),
            "ratio_to_fast_path": round(lps / ref, 3),
            "cpu_ratio_to_fast_path": round(cpu / ref_cpu, 2),
        }
    out["target_lines_per_s"] = 50_000
    return out


def bench_restart_rollover(folder: Path) -> dict[str, Any]:
    """The restart path across a rollover: ship a file, roll the stream over, lose the checkpoint, ship it again.

    The second run finds every event with an `ids` lookup across the backing indices and sends nothing; it is set
    against the first run (a normal shipping of the same lines), alternating which stream goes first.
    """
    from tests.peers import elasticsearch as es_peer

    es_peer.install()
    peer = es_peer.start(folder / "es")
    try:
        log = write_log(folder, ES_LINES)
        source = folder / "source.log"
        shutil.copyfile(log, source)
        es_cfg = ElasticsearchConfig(url=peer.url)  # type: ignore[call-arg]
        first, again, lookups = [], [], []
        for rnd in range(RESTART_ROUNDS):
            cfg = logs_config(folder, data_stream=f"logs-bench.restart{rnd}-default")

            def ship(cfg: LogsConfig = cfg) -> tuple[dict[str, float], float]:
                found: list[float] = []

                def sink(m: ShipperMetrics, cfg: LogsConfig = cfg) -> ElasticsearchSink:
                    s = ElasticsearchSink(SinkConfig(es_cfg, cfg), m)
                    found.append(0.0)
                    real = s.existing.find

                    async def timed(stream: str, ids: list[str]) -> set[str]:
                        t = time.perf_counter()
                        try:
                            return await real(stream, ids)
                        finally:
                            found[0] += time.perf_counter() - t
                    s.existing.find = timed  # type: ignore[method-assign]
                    return s
                r = asyncio.run(run_pipeline(cfg, sink, ES_LINES))
                return r, found[0]

            r1, _ = ship()
            urllib.request.urlopen(urllib.request.Request(f"{peer.url}/{cfg.data_stream}/_rollover", method="POST"))
            cfg.checkpoint_path.unlink()
            r2, spent = ship()
            first.append(r1)
            again.append(r2)
            lookups.append(spent)
        med = statistics.median
        return {
            "lines": ES_LINES,
            "engine": "Elasticsearch 8.17.2 core node (512 MiB heap, same 2 cores)",
            "first_run_lines_per_s": round(med(r["lines_per_s"] for r in first)),
            "restart_after_rollover_lines_per_s": round(med(r["lines_per_s"] for r in again)),
            "first_run_cpu_s_per_million_lines": round(med(r["cpu_s_per_million"] for r in first), 3),
            "restart_after_rollover_cpu_s_per_million_lines": round(med(r["cpu_s_per_million"] for r in again), 3),
            "lookup_wall_s_per_million_lines": round(med(lookups) / ES_LINES * 1e6, 3),
            "runs_first": [round(r["lines_per_s"]) for r in first],
            "runs_restart": [round(r["lines_per_s"]) for r in again],
        }
    finally:
        peer.stop()


PARTS = {"null_sink": bench_null, "elasticsearch": bench_elasticsearch,
         "elasticsearch_own_core": bench_elasticsearch_own_core, "backlog": bench_backlog_rss,
         "processing": bench_processing, "restart_rollover": bench_restart_rollover}


def run(results_dir: Path) -> dict[str, Any]:
    """All three parts (or those named in OBSERVE_BENCH_LOGS_PARTS); each in its own temp folder."""
    out: dict[str, Any] = {"line_bytes": LINE_BYTES}
    previous = results_dir / "logs.json"
    if previous.exists():
        out.update(orjson.loads(previous.read_bytes()))  # parts not re-run keep their last figures
    names = os.environ.get("OBSERVE_BENCH_LOGS_PARTS", ",".join(PARTS)).split(",")
    for name, part in ((n, PARTS[n]) for n in names):
        folder = Path(tempfile.mkdtemp(prefix=f"observe-bench-logs-{name}-"))
        try:
            with LoadSampler() as load:
                out[name] = part(folder)
            out[name]["provenance"] = provenance(load)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        print(name, orjson.dumps(out[name]).decode(), file=sys.stderr, flush=True)
    return out


if __name__ == "__main__":
    res = run(Path(__file__).parent / "results")
    print(orjson.dumps(res, option=orjson.OPT_INDENT_2).decode())

