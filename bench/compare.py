"""`python -m bench.compare [--instructions] [LABEL=]REV ...`: the shipper's null-sink cost at other commits against
this tree, timed (CPU-s per million lines) or, with --instructions, counted (instructions per line, callgrind).

Each revision is checked out once into a cached git worktree (~/.cache/observe-bench/worktrees/<sha>) and run with
this interpreter and its installed packages, so only the code differs. Every round runs each tree once, in turn,
in a fresh process: its own bench/bench_logs.py writes 1,000,000 CRI lines (OBSERVE_BENCH_NULL_LINES), then ships
them into its null sink and reports CPU-s per million lines. Rounds interleave the trees, so a busy moment on a
shared machine hits them alike; the figures to quote are the median of the per-round ratios (this tree's run over
the other tree's run in the same round) with their quartiles, next to the ratio of the medians. Results go
to bench/results/compare.json. This is how issues 11 and 15 ("within 3 % of before") are measured.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.provenance import LoadSampler, provenance

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = Path(os.environ.get("OBSERVE_BENCH_CACHE", Path.home() / ".cache" / "observe-bench")) / "worktrees"
ROUNDS = int(os.environ.get("OBSERVE_BENCH_COMPARE_ROUNDS", "15"))

# Runs inside the tree under test: that tree's own bench helpers, sink and shipper.
ONE_RUN = """
import asyncio, json, shutil, sys, tempfile
from pathlib import Path
from bench import bench_logs as b
folder = Path(tempfile.mkdtemp(prefix="observe-bench-compare-"))
try:
    b.write_log(folder, b.NULL_LINES)
    r = asyncio.run(b.run_pipeline(b.logs_config(folder), b.NullSink, b.NULL_LINES))
finally:
    shutil.rmtree(folder, ignore_errors=True)
print(json.dumps(r))
"""


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, check=True, capture_output=True, text=True).stdout.strip()


def worktree(rev: str) -> tuple[str, Path]:
    """(full sha, a checkout of it), made once per sha."""
    sha = _git("rev-parse", f"{rev}^{{commit}}")
    path = CACHE / sha
    if not (path / "bench" / "bench_logs.py").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        _git("worktree", "add", "--detach", "--force", str(path), sha)
    return sha, path


def one_run(tree: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", ONE_RUN], cwd=tree, env=env, check=True, capture_output=True,
                         text=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def compare(named: dict[str, str]) -> dict[str, Any]:
    """Median CPU-s per million lines and lines/s per tree, and each revision's ratio to this tree."""
    trees = {"this tree": REPO, **{label: worktree(rev)[1] for label, rev in named.items()}}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    order = list(trees)
    for i in range(ROUNDS):
        # Forward then backward (ABC, CBA, ...): a machine that speeds up or slows down over a round favours no tree.
        for name in order if i % 2 == 0 else order[::-1]:
            runs[name].append(one_run(trees[name]))
            r = runs[name][-1]
            print(f"round {i + 1}/{ROUNDS} {name}: {r['cpu_s_per_million']:.3f} CPU-s per million lines, "
                  f"{r['lines_per_s']:,.0f} lines/s", file=sys.stderr, flush=True)
    out: dict[str, Any] = {"rounds": ROUNDS, "trees": {}}
    for name, rs in runs.items():
        out["trees"][name] = {
            "commit": _git("rev-parse", "HEAD") if name == "this tree" else worktree(named[name])[0],
            "cpu_s_per_million_lines": round(statistics.median(r["cpu_s_per_million"] for r in rs), 3),
            "lines_per_s": round(statistics.median(r["lines_per_s"] for r in rs)),
            "cpu_s_per_million_lines_all": [round(r["cpu_s_per_million"], 3) for r in rs],
        }
    here = out["trees"]["this tree"]["cpu_s_per_million_lines"]
    mine = [r["cpu_s_per_million"] for r in runs["this tree"]]
    for name in named:
        them = out["trees"][name]["cpu_s_per_million_lines"]
        out["trees"][name]["cpu_ratio_this_tree_over_it"] = round(here / them, 3)
        # The same round's two runs ran minutes apart at most: their ratio cancels slow stretches of the machine
        # (CPU time for a fixed pure-Python loop varies by +-20 % here from one process to the next).
        paired = sorted(a / b["cpu_s_per_million"] for a, b in zip(mine, runs[name], strict=True))
        out["trees"][name]["paired_ratio_median"] = round(statistics.median(paired), 3)
        out["trees"][name]["paired_ratio_quartiles"] = [round(q, 3) for q in statistics.quantiles(paired, n=4)]
    return out


# --instructions: the same pipeline under valgrind's callgrind, which counts the instructions the process executes.
# Timing cannot resolve a few per cent on this machine; instruction counts repeat to about 0.4 %. Start-up, imports
# and the file write are the same for two file sizes, so (Ir(large) - Ir(small)) / (large - small) is the cost of
# one more line. Two runs per tree and size; the figure is the mean of the two per-line costs.
SIZES = os.environ.get("OBSERVE_BENCH_COUNT_SIZES", "20000,80000").split(",")
COUNT_SIZES = (int(SIZES[0]), int(SIZES[1]))
COUNT_RUN = """
import asyncio, sys
from pathlib import Path
from bench import bench_logs as b
asyncio.run(b.run_pipeline(b.logs_config(Path(sys.argv[1])), b.NullSink, int(sys.argv[2])))
"""
WRITE_LOG = ("import sys; from pathlib import Path; from bench import bench_logs as b; "
             "b.write_log(Path(sys.argv[1]), int(sys.argv[2]))")


def instructions(tree: Path, folder: Path, lines: int) -> int:
    """Instructions executed by one null-sink run of `lines` lines from `folder`, counted by callgrind."""
    for old in folder.glob("cp-*.json"):
        old.unlink()  # start from offset 0
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", COUNT_RUN,
            str(folder), str(lines)]
    out = subprocess.run(argv, cwd=tree, env=env, check=True, capture_output=True, text=True)
    for line in out.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split()[-1])
    raise RuntimeError(f"callgrind printed no count:\n{out.stderr[-2000:]}")


def count(named: dict[str, str]) -> dict[str, Any]:
    """Instructions per shipped line for this tree and each revision."""
    import shutil
    import tempfile

    trees = {"this tree": REPO, **{label: worktree(rev)[1] for label, rev in named.items()}}
    base = Path(tempfile.mkdtemp(prefix="observe-bench-count-"))
    try:
        folders = {}
        for n in COUNT_SIZES:  # one file per size, written by this tree (every tree reads the same bytes)
            folders[n] = base / str(n)
            subprocess.run([sys.executable, "-c", WRITE_LOG, str(folders[n]), str(n)], cwd=REPO, check=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
        out: dict[str, Any] = {"method": f"callgrind Ir, (Ir({COUNT_SIZES[1]} lines) - Ir({COUNT_SIZES[0]} lines)) / their "
                                         "difference, two runs each",
                               "trees": {}}
        small, large = COUNT_SIZES
        for name, tree in trees.items():
            per_line = []
            for _ in range(2):
                ir = {n: instructions(tree, folders[n], n) for n in COUNT_SIZES}
                per_line.append((ir[large] - ir[small]) / (large - small))
                print(f"{name}: {per_line[-1]:,.0f} instructions per line", file=sys.stderr, flush=True)
            sha = _git("rev-parse", "HEAD") if name == "this tree" else worktree(named[name])[0]
            out["trees"][name] = {"commit": sha, "instructions_per_line": round(statistics.mean(per_line)),
                                  "runs": [round(x) for x in per_line]}
        here = out["trees"]["this tree"]["instructions_per_line"]
        for name in named:
            out["trees"][name]["this_tree_over_it"] = round(here / out["trees"][name]["instructions_per_line"], 4)
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    args = sys.argv[1:]
    counting = "--instructions" in args
    args = [a for a in args if a != "--instructions"]
    if not args:
        sys.exit("usage: python -m bench.compare [--instructions] [LABEL=]REV ...  "
                 "(e.g. round-1=84881cf: the shipper before round 2)")
    named = {a.partition("=")[0]: a.partition("=")[2] or a for a in args}
    with LoadSampler() as load:
        result = count(named) if counting else compare(named)
    result["provenance"] = provenance(load)
    name = "compare-instructions.json" if counting else "compare.json"
    (HERE / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "provenance"}, indent=2))


if __name__ == "__main__":
    main()
