"""Stack traces kept whole: how many scenarios of the public exception-detector suites' cases come out exactly right.

Cases: tests/unit/logs/multiline_cases (each trace from GoogleCloudPlatform/fluent-plugin-detect-exceptions or
fluent/fluent-bit's multiline tests, or written for an issue-13 class). Each case runs in four scenarios
(unrelated neighbours, twice back to back, interleaved with the other stream, split across CRI P/F lines),
in `auto` and in its language's named mode, through the real CRI decoder and per-file processor.
A scenario counts as right only when every event boundary is exact.

`accuracy_before` holds the figures of the code before issue 13 (measured once, kept across runs).
Run: `python -m bench multiline`.
"""

from __future__ import annotations

import sys
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


def run(results_dir: Path) -> dict[str, Any]:
    """Accuracy now, next to the figures from before issue 13."""
    previous = results_dir / "multiline.json"
    before = orjson.loads(previous.read_bytes()).get("accuracy_before") if previous.exists() else None
    now = accuracy()
    return {"accuracy_before": before or now, "accuracy": now,
            "note": "right = scenarios with exact event boundaries; 4 scenarios per case"}


if __name__ == "__main__":
    res = run(Path(__file__).parent / "results")
    print(orjson.dumps(res, option=orjson.OPT_INDENT_2).decode(), file=sys.stdout)
