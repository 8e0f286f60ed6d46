"""Where `observe ship`'s CPU goes, per stage, on each corpus of bench_corpora: py-spy samples of the real process.

py-spy (a sampling profiler, from PyPI) attaches to `observe ship` as soon as it is started by
bench/ship_process.py and samples it at RATE Hz until it exits; only stacks that are running count (py-spy leaves
idle threads out), so the share of samples is the share of CPU. Each sample goes to the stage of its innermost
frame in observe's own code (STAGES; import machinery anywhere in the stack counts as start-up, a stack without
any frame of ours as the interpreter and libraries). For the current tree the bench also writes a flame graph,
bench/results/flame/<corpus>.svg; with OBSERVE_BENCH_CORPORA_BASELINE set, the baseline tree's split is measured
the same way, for a before/after per stage. Run: `python -m bench profile` (part of `make bench`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.bench_corpora import BASELINE, SHAPES
from bench.ship_process import link_corpus, run_ship

EVENTS = int(os.environ.get("OBSERVE_BENCH_PROFILE_EVENTS", "300000"))
CORPORA = [c for c in os.environ.get("OBSERVE_BENCH_PROFILE_CORPORA", "plain,java_mix,nginx,json").split(",") if c]
RATE = 200

# The first pattern found in an observe frame (`function (file:line)`, mostly its file path) names its stage.
STAGES: list[tuple[str, str]] = [
    ("observe/logs/fastpath.py", "fast_path"),
    # The C library's time shows as the Python frame that called it: the multiline pre-check, else the fast path.
    ("classify (", "multiline"),
    ("untriggered (", "multiline"),  # classify's name before 2026-12-05 (a baseline tree may have it)
    ("observe/logs/cri_native.py", "fast_path"),
    ("observe/logs/decode.py", "decode"),
    ("observe/logs/multiline/", "multiline"),
    ("observe/logs/stack_traces.py", "multiline"),
    ("observe/logs/process.py", "multiline"),
    ("observe/logs/parsers.py", "parse"),
    ("observe/logs/encode.py", "encode"),
    ("observe/merge.py", "encode"),
    ("observe/logs/reader.py", "read"),
    ("observe/logs/tailer.py", "read"),
    ("observe/logs/inotify.py", "read"),
    ("observe/logs/", "deliver"),
    ("observe/", "service"),
    ("exporters/", "service"),
]
STARTUP = "startup"
OUTSIDE = "outside"
STAGE_NAMES = {
    "fast_path": "the CRI fast path (decode, the nginx or json parser where it takes the line, and encode in one loop)",
    "decode": "decode (CRI fields, partial lines)",
    "multiline": "the processor and multiline (merger, language rules, error fields)",
    "parse": "parsers (json, nginx, regex)",
    "encode": "encode (ECS documents, deep_merge)",
    "read": "read (files, chunks, lines)",
    "deliver": "deliver (batches, acks, checkpoint, metrics)",
    "service": "the service (HTTP, metrics, start and stop)",
    STARTUP: "start-up (import machinery anywhere in the stack)",
    OUTSIDE: "interpreter and libraries (no frame of ours: event loop, selectors)",
}


def stage_of(stack: str) -> str:
    """The stage of one collapsed stack (`outer;...;inner`, frames as py-spy writes them: `fn (file:line)`)."""
    frames = stack.split(";")
    if any("_find_and_load" in f or "<frozen importlib" in f for f in frames):
        return STARTUP
    for frame in reversed(frames):
        for pattern, stage in STAGES:
            if pattern in frame:
                return stage
    return OUTSIDE


def split(raw: Path) -> dict[str, float]:
    """Share of the samples per stage from a py-spy raw (collapsed stacks) file."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack and n.isdigit():
            counts[stage_of(stack)] += int(n)
    total = sum(counts.values()) or 1
    return {stage: round(n / total, 3) for stage, n in counts.most_common()} | {"samples": total}


def _profiled(folder: Path, events: int, logs: dict[str, Any], out: Path, fmt: str, tree: str | None) -> dict[str, Any]:
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    procs: list[subprocess.Popen[bytes]] = []

    def attach(pid: int) -> None:
        procs.append(subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", str(RATE), "--format", fmt,
                                       "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    command = [sys.executable, "-m", "observe"] if tree else None
    r = run_ship(folder, events, logs=logs, poll_s=0.25, command=command, pythonpath=tree, on_start=attach)
    for p in procs:
        p.wait(timeout=120)
    return r


def run(results_dir: Path) -> dict[str, Any]:
    """Per corpus: the stage split of the current tree (and of the baseline), and a flame graph."""
    trees = {"observe": None, **({"baseline": BASELINE} if BASELINE else {})}
    flames = results_dir / "flame"
    flames.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"events": EVENTS, "rate_hz": RATE, "baseline_tree": BASELINE or None,
                           "stage_names": STAGE_NAMES, "corpora": {}}
    with tempfile.TemporaryDirectory(prefix="observe-bench-profile-") as tmp:
        root = Path(tmp)
        for name in CORPORA:
            make, logs = SHAPES[name]
            data, lines, events = make(EVENTS)
            corpus = root / f"{name}.log"
            corpus.write_bytes(data)
            del data
            entry: dict[str, Any] = {"lines": lines, "events": events}
            for tree, path in trees.items():
                folder = root / f"{name}-{tree}"
                link_corpus(folder, corpus)
                raw = folder / "stacks.txt"
                r = _profiled(folder, events, logs, raw, "raw", path)
                shares = split(raw)
                # CPU seconds per stage: its share of the samples times the run's CPU (py-spy's pauses included).
                cpu = {k: round(v * r["cpu_s"], 2) for k, v in shares.items() if k != "samples"}
                entry[tree] = {"cpu_s": r["cpu_s"], "stages": shares, "stage_cpu_s": cpu}
            folder = root / f"{name}-flame"
            link_corpus(folder, corpus)
            _profiled(folder, events, logs, flames / f"{name}.svg", "flamegraph", None)
            entry["flame_graph"] = f"bench/results/flame/{name}.svg"
            out["corpora"][name] = entry
            corpus.unlink()
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(Path("bench/results")), indent=2))
