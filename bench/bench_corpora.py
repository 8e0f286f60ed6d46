"""Issue 18's table, re-measured: `observe ship` as a whole process on the corpora users ship, against same-run floors.

Each corpus is EVENTS events (1,000,000 by default, as in the issue) of CRI lines, generated deterministically:

- `plain`: 200-byte lines, 2 % of the events written as a P and an F partial line (the fast path);
- `java_mix`: 95 % one-line INFO logs, 5 % an ERROR with a 30-line Java trace (`multiline.mode: auto`);
- `nginx`: ingress-nginx access lines in its default upstream format (`parser: nginx`);
- `json`: structured JSON lines, 8 keys (`parser: json`).

`observe ship` runs with the null sink and Kubernetes off on one file per run (bench/ship_process.py). Its CPU is
utime + stime from /proc from exec to exit: start-up, the whole corpus, shutdown, as Fluent Bit's figures in the
issue were taken. Peak RSS is VmHWM. Before each run the file is read once by the bench (the bare read floor, which
also puts it in the page cache). Rounds interleave over the corpora (and over a baseline tree when
OBSERVE_BENCH_CORPORA_BASELINE names one, e.g. a `git archive` of an earlier commit); medians are reported.

Floors measured in the same run on the same file, in the bench process: `bare_read` (1 MiB reads and a line
split, nothing else) and `reference_loop` (bench_logs.reference_loop: the CRI split and a bulk NDJSON document
with an `_id` per line, no parsing, no queues, acks or checkpoints).

Fluent Bit 4.2.8's figures cannot be re-measured here (the project cannot build it); they are the anchors the
issue quotes, measured outside the project on the same corpus shapes, and are labelled so. Run:
`python -m bench corpora` (part of `make bench`).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import bench_logs
from bench.ship_process import link_corpus, run_ship

EVENTS = int(os.environ.get("OBSERVE_BENCH_CORPORA_EVENTS", "1000000"))
ROUNDS = int(os.environ.get("OBSERVE_BENCH_CORPORA_ROUNDS", "3"))
BASELINE = os.environ.get("OBSERVE_BENCH_CORPORA_BASELINE", "")
CORPORA = [c for c in os.environ.get("OBSERVE_BENCH_CORPORA", "plain,java_mix,nginx,json").split(",") if c]
MIB_TO_MB = 2**20 / 1e6

# Issue 18's measurements, outside the project (Fluent Bit 4.2.8 built from source, 1M events, page cache warm,
# interleaved rounds, medians): CPU-s of the whole run with File_Cache_Advise Off (its faster setting) and with
# the default cache advice, peak RSS in MB; and observe's figures in the same runs (the "before" of this table).
FLUENT_BIT = {
    "plain": {"cpu_s": 3.92, "cpu_s_cache_advice": 4.93, "peak_rss_mb": 51.0},
    "java_mix": {"cpu_s": 9.8, "cpu_s_cache_advice": 11.6, "peak_rss_mb": 22.5},
}
FLUENT_BIT_IDLE = {"rss_idle_mb": 10.9, "startup_shutdown_cpu_s": 0.01}
OBSERVE_IN_ISSUE = {"plain": {"cpu_s": 2.78, "peak_rss_mb": 62.0}, "java_mix": {"cpu_s": 12.4, "peak_rss_mb": 62.0},
                    "idle_rss_mb": 55.5, "startup_shutdown_cpu_s": 0.85}
GOAL_CPU_RATIO = 0.5  # of Fluent Bit's faster setting
# The issue has no Fluent Bit figure for the parser corpora. Its run with a parser does all its plain run does (tail,
# the CRI parser, records to the null output, for as many events) and a parser filter on top, so its plain figure is
# a floor of it: our CPU over that floor is an upper bound of our CPU over its real figure.
FLUENT_BIT_FLOOR_FOR = {"nginx": "plain", "json": "plain"}


def plain_partials(n: int) -> tuple[bytes, int, int]:
    """200-byte CRI lines; every 50th event (2 %) written as a P line and an F line."""
    out: list[bytes] = []
    ts = bench_logs.TS
    for i in range(n):
        text = bench_logs._pad(f"GET /api/v1/items/{i} 200 user=alice", bench_logs.LINE_BYTES)
        if i % 50 == 0:
            out.append(ts + b" stdout P " + text[:80].encode() + b"\n")
            out.append(ts + b" stdout F " + text[80:].encode() + b"\n")
        else:
            out.append(ts + b" stdout F " + text.encode() + b"\n")
    return b"".join(out), len(out), n


# name: (generator of (bytes, physical lines, events), logs.* settings)
SHAPES: dict[str, tuple[Any, dict[str, Any]]] = {
    "plain": (plain_partials, {}),
    "java_mix": (bench_logs.java_mix, {"multiline": {"mode": "auto"}}),
    "nginx": (bench_logs.nginx_lines, {"parser": "nginx"}),
    "json": (bench_logs.json_lines, {"parser": "json"}),
}


def bare_read(path: Path) -> float:
    """CPU seconds to read the file in 1 MiB chunks and split it into lines."""
    c0 = time.process_time()
    n = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            n += len(chunk.split(b"\n"))
    return time.process_time() - c0


def _median(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def run(results_dir: Path) -> dict[str, Any]:
    """ROUNDS interleaved rounds over the corpora (and the baseline tree); medians, ratios and every run."""
    trees: dict[str, tuple[list[str] | None, str | None]] = {"observe": (None, None)}
    if BASELINE:
        trees["baseline"] = ([sys.executable, "-m", "observe"], BASELINE)
    out: dict[str, Any] = {"events": EVENTS, "rounds": ROUNDS, "sink": "null", "kubernetes": "off",
                           "baseline_tree": BASELINE or None, "corpora": {}}
    with tempfile.TemporaryDirectory(prefix="observe-bench-corpora-") as tmp:
        root = Path(tmp)
        files: dict[str, tuple[Path, int, int]] = {}
        for name in CORPORA:
            make, _ = SHAPES[name]
            data, lines, events = make(EVENTS)
            path = root / f"{name}.log"
            path.write_bytes(data)
            files[name] = (path, lines, events)
            del data
        runs: dict[tuple[str, str], list[dict[str, float]]] = {(c, t): [] for c in CORPORA for t in trees}
        floors: dict[str, dict[str, list[float]]] = {c: {"bare_read": [], "reference_loop": []} for c in CORPORA}
        for rnd in range(ROUNDS):
            for name in CORPORA:
                path, lines, events = files[name]
                floors[name]["bare_read"].append(bare_read(path) / lines * 1e6)
                floors[name]["reference_loop"].append(bench_logs.reference_loop(path)["cpu_s_per_million"])
                order = list(trees) if rnd % 2 == 0 else list(reversed(trees))
                for tree in order:
                    command, pythonpath = trees[tree]
                    folder = root / f"{name}-{tree}-{rnd}"
                    link_corpus(folder, path)
                    r = run_ship(folder, events, logs=SHAPES[name][1], poll_s=0.25, command=command,
                                 pythonpath=pythonpath)
                    r["cpu_s_per_million_lines"] = round(r["cpu_s"] / lines * 1e6, 3)
                    runs[(name, tree)].append(r)
        for name in CORPORA:
            _, lines, events = files[name]
            entry: dict[str, Any] = {"lines": lines, "events": events, "settings": SHAPES[name][1] or "fast path"}
            for tree in trees:
                rs = runs[(name, tree)]
                entry[tree] = {"cpu_s": _median(rs, "cpu_s"), "cpu_s_per_million_lines": _median(rs, "cpu_s_per_million_lines"),
                               "rss_peak_mib": _median(rs, "rss_peak_mib"),
                               "rss_peak_mb": round(_median(rs, "rss_peak_mib") * MIB_TO_MB, 1),
                               "done_wall_s": _median(rs, "done_wall_s"), "runs": rs}
            ours = entry["observe"]
            entry["floors_cpu_s_per_million_lines"] = {k: round(statistics.median(v), 3) for k, v in floors[name].items()}
            entry["cpu_ratio_to_reference_loop"] = round(
                ours["cpu_s_per_million_lines"] / entry["floors_cpu_s_per_million_lines"]["reference_loop"], 2)
            if BASELINE:
                entry["cpu_ratio_to_baseline"] = round(ours["cpu_s"] / entry["baseline"]["cpu_s"], 3)
                entry["rss_ratio_to_baseline"] = round(ours["rss_peak_mib"] / entry["baseline"]["rss_peak_mib"], 3)
            if name in FLUENT_BIT:
                fb = FLUENT_BIT[name]
                entry["fluent_bit_anchor"] = fb
                entry["observe_in_issue"] = OBSERVE_IN_ISSUE[name]
                entry["cpu_ratio_to_fluent_bit"] = round(ours["cpu_s"] / fb["cpu_s"], 3)
                entry["rss_ratio_to_fluent_bit"] = round(ours["rss_peak_mb"] / fb["peak_rss_mb"], 3)
                entry["goal_met"] = {"cpu": entry["cpu_ratio_to_fluent_bit"] <= GOAL_CPU_RATIO,
                                     "peak_rss": entry["rss_ratio_to_fluent_bit"] <= 1.0}
            if name in FLUENT_BIT_FLOOR_FOR:
                floor = FLUENT_BIT[FLUENT_BIT_FLOOR_FOR[name]]["cpu_s"]
                entry["fluent_bit_floor_cpu_s"] = floor
                entry["cpu_ratio_to_fluent_bit_floor"] = round(ours["cpu_s"] / floor, 3)
                entry["goal_met"] = {"cpu_upper_bound": entry["cpu_ratio_to_fluent_bit_floor"] <= GOAL_CPU_RATIO}
            out["corpora"][name] = entry
    out["goal_cpu_ratio_to_fluent_bit"] = GOAL_CPU_RATIO
    out["fluent_bit_idle_anchor"] = FLUENT_BIT_IDLE
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(Path("bench/results")), indent=2))
