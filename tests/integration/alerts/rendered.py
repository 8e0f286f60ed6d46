"""Render the rules once per test module and lay them out the way the promtool test files expect."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from observe.render.renderer import render, write

REPO = Path(__file__).resolve().parents[3]
TESTS = REPO / "alerts" / "tests"


def render_tree(out: Path, values: Path | None = None) -> Path:
    """Render into out/; promtool tests go to out/stripped/tests (rules without annotations) and out/tests (full rules)."""
    write(render(values), out)
    stripped = out / "stripped"
    (stripped / "rules").mkdir(parents=True, exist_ok=True)
    for rule_file in sorted((out / "rules").glob("*.yaml")):
        data = yaml.safe_load(rule_file.read_text())
        for group in data["groups"]:
            for rule in group["rules"]:
                rule.pop("annotations", None)  # annotations are checked in their own test file
        (stripped / "rules" / rule_file.name).write_text(yaml.safe_dump(data))
    shutil.copytree(TESTS, stripped / "tests", ignore=shutil.ignore_patterns("annotations"), dirs_exist_ok=True)
    shutil.copytree(TESTS / "annotations", out / "tests", dirs_exist_ok=True)
    return out
