"""Log shipper throughput and memory, on 200-byte CRI lines.

1. Null sink (the read, decode and encode ceiling): lines/s and CPU-s per million lines, one core, median of 3;
   set against a minimal read/split/encode loop (the floor a Python shipper can reach) in the same run.
2. A real Elasticsearch node: the shipper end to end, set against the node's own ceiling for the same bulk
   bodies sent by a minimal loader (same concurrency), alternated, medians.
3. Peak RSS of `observe ship` while Elasticsearch is down and a backlog file waits (OBSERVE_BENCH_BACKLOG_MB).

Run: `python -m bench logs` (or `make bench` for every benchmark).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from prometheus_client import CollectorRegistry

from observe.config import ElasticsearchConfig
from observe.logs.bulk import BULK_PATH, BulkSink
from observe.logs.config import LogsConfig
from observe.logs.metrics import ShipperMetrics
from observe.logs.shipper import Shipper
from observe.logs.sink import NullSink, Sink, SpoolSink, spool_files

LINE_BYTES = 200
NULL_LINES = int(os.environ.get("OBSERVE_BENCH_NULL_LINES", "1000000"))
ES_LINES = int(os.environ.get("OBSERVE_BENCH_ES_LINES", "200000"))
ES_ROUNDS = int(os.environ.get("OBSERVE_BENCH_ES_ROUNDS", "5"))
BACKLOG_MB = int(os.environ.get("OBSERVE_BENCH_BACKLOG_MB", "1024"))
TS = b"2024-05-01T12:34:56.123456789Z"


def cri_lines(n: int, start: int = 0) -> bytes:
    """n CRI lines of exactly LINE_BYTES bytes each."""
    head = TS + b" stdout F "
    room = LINE_BYTES - len(head) - 1
    filler = b'GET /api/v1/items?id=42 200 "Mozilla/5.0 (X11; Linux x86_64)" took=12ms user=alice trace=abcdef0123456789 '
    filler = (filler * 4)[: room - 9]
    return b"".join(head + b"%08d " % i + filler + b"\n" for i in range(start, start + n))


def write_log(folder: Path, n: int) -> Path:
    """A kubelet-shaped log file of n lines."""
    pod = folder / "pods" / "bench_web-0_0b1c2d3e-aaaa-bbbb-cccc-1234567890ab" / "app"
    pod.mkdir(parents=True, exist_ok=True)
    path = pod / "0.log"
    with path.open("wb") as f:
        for block in range(0, n, 100_000):
            f.write(cri_lines(min(100_000, n - block), block))
    return path


def logs_config(folder: Path, **kw: Any) -> LogsConfig:
    return LogsConfig(paths=[str(folder / "pods" / "*" / "*" / "*.log")], checkpoint_path=folder / f"cp-{time.time_ns()}.json",
                      spool_dir=folder / "spool", host_name="bench-node", linger_ms=50, **kw)


async def run_pipeline(config: LogsConfig, sink_factory: Any, n: int) -> dict[str, float]:
    """Ship n lines through the whole pipeline; wall and CPU seconds until the last one is acknowledged."""
    metrics = ShipperMetrics(CollectorRegistry())
    sink: Sink = sink_factory(metrics)
    shipper = Shipper(config, sink, metrics)
    acked = [metrics.events_acked.labels(o) for o in ("delivered", "duplicate")]
    t0, c0 = time.perf_counter(), time.process_time()
    await shipper.start()
    while sum(c._value.get() for c in acked) < n:  # noqa: ASYNC110 - polling a counter is the point
        await asyncio.sleep(0.01)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    await shipper.stop()
    return {"wall_s": wall, "cpu_s": cpu, "lines_per_s": n / wall, "cpu_s_per_million": cpu / n * 1e6}


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
    runs = [asyncio.run(run_pipeline(logs_config(folder), NullSink, NULL_LINES)) for _ in range(3)]
    floors = [reference_loop(path) for _ in range(3)]
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


def bench_elasticsearch(folder: Path) -> dict[str, Any]:
    from tests.peers import elasticsearch as es_peer

    es_peer.install()
    peer = es_peer.start(folder / "es")
    try:
        write_log(folder, ES_LINES)
        es_cfg = ElasticsearchConfig(url=peer.url)  # type: ignore[call-arg]
        loader_lps, shipper_lps, shipper_cpu = [], [], []
        warm = logs_config(folder, data_stream="logs-bench.warmup-default")  # JIT and caches of a fresh node
        asyncio.run(run_pipeline(warm, lambda m: BulkSink(es_cfg, warm, m), ES_LINES))
        for rnd in range(ES_ROUNDS):
            # The loader's bodies: exactly what the shipper sends, spooled for another data stream.
            spool = folder / f"spool{rnd}"
            cfg = logs_config(folder, data_stream=f"logs-bench.loader{rnd}-default")
            asyncio.run(run_pipeline(cfg, lambda m, s=spool: SpoolSink(s, m), ES_LINES))
            bodies = [p.read_bytes() for p in spool_files(spool)]

            async def load(cfg: LogsConfig = cfg, bodies: list[bytes] = bodies) -> float:
                sink = BulkSink(es_cfg, cfg, ShipperMetrics(CollectorRegistry()))
                await sink.setup()
                await sink.close()
                return await loader(peer.url, bodies, cfg.max_in_flight)

            def ship(rnd: int = rnd) -> None:
                cfg = logs_config(folder, data_stream=f"logs-bench.shipper{rnd}-default")
                r = asyncio.run(run_pipeline(cfg, lambda m, c=cfg: BulkSink(es_cfg, c, m), ES_LINES))
                shipper_lps.append(r["lines_per_s"])
                shipper_cpu.append(r["cpu_s_per_million"])

            # Alternate which goes first, so the node's background work (merges, GC) is shared fairly.
            if rnd % 2:
                ship()
            loader_lps.append(ES_LINES / asyncio.run(load()))
            if not rnd % 2:
                ship()
            shutil.rmtree(spool)
        ceiling = statistics.median(loader_lps)
        lps = statistics.median(shipper_lps)
        # The machine is shared: each round's shipper/loader pair ran back to back, so their ratio is the steadier figure.
        paired = [s / c for s, c in zip(shipper_lps, loader_lps, strict=True)]
        return {
            "median_paired_ratio": round(statistics.median(paired), 3),
            "paired_ratios": [round(x, 3) for x in paired],
            "lines": ES_LINES,
            "engine": f"Elasticsearch {es_peer.VERSION} core node (512 MiB heap, same 2 cores)",
            "node_ceiling_lines_per_s": round(ceiling),
            "shipper_lines_per_s": round(lps),
            "shipper_cpu_s_per_million_lines": round(statistics.median(shipper_cpu), 3),
            "ratio_to_node_ceiling": round(lps / ceiling, 3),
            "target_ratio": 0.9,
            "runs_loader": [round(x) for x in loader_lps],
            "runs_shipper": [round(x) for x in shipper_lps],
        }
    finally:
        peer.stop()


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


PARTS = {"null_sink": bench_null, "elasticsearch": bench_elasticsearch, "backlog": bench_backlog_rss}


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
            out[name] = part(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        print(name, orjson.dumps(out[name]).decode(), file=sys.stderr, flush=True)
    return out


if __name__ == "__main__":
    res = run(Path(__file__).parent / "results")
    print(orjson.dumps(res, option=orjson.OPT_INDENT_2).decode())

