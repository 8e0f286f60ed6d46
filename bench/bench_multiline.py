"""Stack traces kept whole: how many scenarios of the public exception-detector suites' cases come out exactly right.

Cases: tests/unit/logs/multiline_cases (each trace from GoogleCloudPlatform/fluent-plugin-detect-exceptions or
fluent/fluent-bit's multiline tests, or written for an issue-13 class). Each case runs in four scenarios
(unrelated neighbours, twice back to back, interleaved with the other stream, split across CRI P/F lines),
in `auto` and in its language's named mode, through the real CRI decoder and per-file processor.
A scenario counts as right only when every event boundary is exact.

`accuracy_before` holds the figures of the code before issue 13 (measured once, kept across runs).

Cost, A/B: with OBSERVE_BENCH_MULTILINE_BASELINE=<an older observe/logs/multiline.py> (e.g. from `git show
<commit>:observe/logs/multiline.py`) or <an older observe/logs/multiline/ package folder> (e.g. from `git archive
<commit> observe/logs/multiline | tar -x -C /tmp/old`), the shipper's processing path runs the same mixes with the
baseline rules and with the current ones, interleaved round by round in one process, into the null sink; CPU-s per
million lines and the ratio to the CRI fast path, medians. The shared machine's load then hits both alike.
Run: `python -m bench multiline`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

from tests.unit.logs.multiline_cases import LANGUAGES, SCENARIOS, load_cases, right


def accuracy() -> dict[str, Any]:
    """Per language and mode: scenarios right / total, and the cases that missed."""
    cases = load_cases()
    out: dict[str, Any] = {}
    for lang in LANGUAGES:
        mine = [c for c in cases if c.language == lang]
        row: dict[str, Any] = {"cases": len(mine), "scenarios": len(mine) * len(SCENARIOS)}
        for mode in ("auto", lang):
            missed = [f"{c.name}:{s}" for c in mine for s in SCENARIOS if not right(mode, c, s)]
            key = "auto" if mode == "auto" else "named"
            row[f"{key}_right"] = row["scenarios"] - len(missed)
            row[f"{key}_missed"] = missed
            public = [f"{c.name}:{s}" for c in mine if c.public for s in SCENARIOS]
            row[f"{key}_right_public"] = len(set(public) - set(missed))
        row["scenarios_public"] = sum(len(SCENARIOS) for c in mine if c.public)
        out[lang] = row
    return out


def closed_events(module: Any, data: bytes) -> int:
    """How many events `module`'s auto rules close while reading the CRI `data` (the last stays open until quiet)."""
    merger = module.Merger()
    rule = module.rule_for("auto")
    n = 0
    for i, line in enumerate(data.split(b"\n")[:-1]):
        _, stream, _, msg = line.split(b" ", 3)
        n += len(merger.feed(stream, rule, msg.decode(), i, 0.0))
    return n


def load_baseline(baseline: Path) -> Any:
    """The baseline rules: an older multiline.py file, or an older multiline/ package folder."""
    if baseline.is_file():
        spec = importlib.util.spec_from_file_location("multiline_baseline", baseline)
        assert spec is not None and spec.loader is not None
        old = importlib.util.module_from_spec(spec)
        sys.modules["multiline_baseline"] = old
        spec.loader.exec_module(old)
        return old
    # A package imports its own modules by their absolute names: load it as observe.logs.multiline with its
    # modules from the folder, keep the module objects, then put the current package back.
    name = "observe.logs.multiline"

    def ours() -> list[str]:
        return [k for k in sys.modules if k == name or k.startswith(name + ".")]

    current = {k: sys.modules.pop(k) for k in ours()}
    try:
        spec = importlib.util.spec_from_file_location(name, baseline / "__init__.py",
                                                      submodule_search_locations=[str(baseline)])
        assert spec is not None and spec.loader is not None
        old = importlib.util.module_from_spec(spec)
        sys.modules[name] = old
        spec.loader.exec_module(old)
    finally:
        for k in ours():
            del sys.modules[k]
        sys.modules.update(current)
    return old


def cost_ab(baseline: Path, lines: int = 200_000, rounds: int = 5) -> dict[str, Any]:
    """CPU per line of the processing path with the baseline rules and the current ones, against the fast path."""
    from bench import bench_logs
    from observe.logs import process
    from observe.logs.sinks.null import NullSink

    old = load_baseline(baseline)
    new_merger, new_rule_for = getattr(process, "Merger"), getattr(process, "rule_for")  # noqa: B009

    def use(module: Any) -> None:
        # PlanProcessor builds its Merger and rules through these two names.
        setattr(process, "Merger", module.Merger if module else new_merger)  # noqa: B010
        setattr(process, "rule_for", module.rule_for if module else new_rule_for)  # noqa: B010
        process._rule.cache_clear()
    mixes = {
        "plain": (bench_logs.cri_lines(lines), lines, lines),
        "java_mix": bench_logs.java_mix(lines * 100 // 245),
        "polyglot_mix": bench_logs.polyglot_mix(lines * 100 // 190),
    }
    runs: dict[str, list[float]] = {}
    folder = Path(tempfile.mkdtemp(prefix="observe-bench-multiline-"))
    path = bench_logs.log_path(folder)
    try:
        for _ in range(rounds):
            for mix, (data, n_lines, n_events) in [("fast_path", mixes["plain"]), *mixes.items()]:
                variants = [("fast_path", None)] if mix == "fast_path" else [("baseline", old), ("current", None)]
                for variant, module in variants:
                    use(module)
                    settings = None if mix == "fast_path" else process.Settings(multiline="auto")
                    provider = None if settings is None else bench_logs._Attach(settings)
                    want = n_events if settings is None else closed_events(module or sys.modules["observe.logs.multiline"], data)
                    path.write_bytes(data)
                    r = asyncio.run(bench_logs.run_pipeline(bench_logs.logs_config(folder), NullSink, want,
                                                            provider, n_lines))
                    path.unlink()
                    runs.setdefault(mix if mix == "fast_path" else f"{mix}.{variant}", []).append(r["cpu_s_per_million"])
    finally:
        use(None)
        shutil.rmtree(folder, ignore_errors=True)
    fast = statistics.median(runs["fast_path"])
    out: dict[str, Any] = {"lines": lines, "rounds": rounds, "statistic": "median", "mode": "auto",
                           "fast_path_cpu_s_per_million_lines": round(fast, 3)}
    for key, values in runs.items():
        if key != "fast_path":
            cpu = statistics.median(values)
            out[key] = {"cpu_s_per_million_lines": round(cpu, 3), "cpu_ratio_to_fast_path": round(cpu / fast, 2)}
    return out


# Fluent Bit cannot be built on this machine: its figures are the ones measured earlier on the same kind of machine
# (the project's performance notes, "Side by side with Fluent Bit 4.2.8"), on a corpus of the same public suites'
# cases (neighbours, back to back, interleaved streams) and on 1,000,000 CRI lines with 5 % 30-line Java traces.
FLUENT_BIT_REFERENCE: dict[str, Any] = {
    "version": "Fluent Bit 4.2.8, multiline filter with java,python,go",
    "cases_right_java_python_go": "about 19 of 27",
    "cases_right_js_csharp_ruby_php_dart": "8 of 60",
    "java_mix_1m_lines_cpu_s": 11.6,
    "java_mix_1m_lines_cpu_s_without_cache_advice": 9.8,
    "java_mix_1m_lines_peak_rss_mb": 22.5,
    "observe_before_issue_13_java_mix_1m_lines_cpu_s": 12.4,
    "source": "measured before issue 13, not re-run here",
}


def run(results_dir: Path) -> dict[str, Any]:
    """Accuracy now, next to the figures from before issue 13; the A/B cost when a baseline is given."""
    previous = results_dir / "multiline.json"
    old = orjson.loads(previous.read_bytes()) if previous.exists() else {}
    now = accuracy()
    out: dict[str, Any] = {"accuracy_before": old.get("accuracy_before") or now, "accuracy": now,
                           "note": "right = scenarios with exact event boundaries; 4 scenarios per case",
                           "fluent_bit_reference": FLUENT_BIT_REFERENCE}
    baseline = os.environ.get("OBSERVE_BENCH_MULTILINE_BASELINE")
    if baseline:
        out["cost_ab"] = cost_ab(Path(baseline))
    elif "cost_ab" in old:
        out["cost_ab"] = old["cost_ab"]  # kept from the last run that had a baseline
    return out


if __name__ == "__main__":
    res = run(Path(__file__).parent / "results")
    print(orjson.dumps(res, option=orjson.OPT_INDENT_2).decode(), file=sys.stdout)
