"""`python -m bench.compare [LABEL=]REV ...`: the shipper's null-sink throughput at other commits against this tree.

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


def main() -> None:
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: python -m bench.compare [LABEL=]REV ...  (e.g. round-1=84881cf: the shipper before round 2)")
    named = {a.partition("=")[0]: a.partition("=")[2] or a for a in args}
    with LoadSampler() as load:
        result = compare(named)
    result["provenance"] = provenance(load)
    (HERE / "results" / "compare.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "provenance"}, indent=2))


if __name__ == "__main__":
    main()
