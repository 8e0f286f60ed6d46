"""A node lost under the shipper (issue 16 part 1), in full: tests/integration/logs/test_es_cluster_faults.py run
BENCH_ES_CLUSTER_ROUNDS times (default 3) on real three-node Elasticsearch and OpenSearch clusters.

Per engine and fault (the primary's node SIGKILLed, the master SIGKILLed, the primary's node SIGSTOPped for 30 s):
the catch-up seconds of each round (from the fault until every line written up to one second before is
acknowledged), their median and range, the bound the test asserts, the lines written and the 409s that answered
retried items. Every round also proves exactly once (the test fails otherwise, and so does this bench).
Run: `python -m bench es_cluster` (about 4 minutes a round).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROUNDS = int(os.environ.get("BENCH_ES_CLUSTER_ROUNDS", "3"))
TEST = "tests/integration/logs/test_es_cluster_faults.py"


def run(results_dir: Path) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "recovery.jsonl"
        for n in range(ROUNDS):
            print(f"es_cluster: round {n + 1} of {ROUNDS}", file=sys.stderr)
            done = subprocess.run([sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:randomly", "-p", "no:cacheprovider"],
                                  cwd=root, env={**os.environ, "OBSERVE_TEST_RECOVERY_LOG": str(log)},
                                  capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{TEST} failed in round {n + 1}:\n{done.stdout[-4000:]}")
        records = [json.loads(line) for line in log.read_text().splitlines()]
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        grouped[r["engine"]][r["case"]].append(r)
    out: dict[str, Any] = {}
    for engine, cases in sorted(grouped.items()):
        out[engine] = {}
        for case, rs in cases.items():
            seconds = [r["recovery_seconds"] for r in rs]
            out[engine][case] = {
                "rounds": len(rs), "catch_up_seconds": seconds, "catch_up_median_s": statistics.median(seconds),
                "catch_up_max_s": max(seconds), "bound_s": rs[0]["bound_seconds"],
                "lines_median": statistics.median(r["lines"] for r in rs),
                "answered_409_median": statistics.median(r["duplicates_answered_409"] for r in rs),
                "victim_was_master": sum(1 for r in rs if r["victim_was_master"]),
            }
    results_dir.mkdir(parents=True, exist_ok=True)
    return {"rounds": ROUNDS, "lines_per_second": 400, "exactly_once_every_round": True, **out}
