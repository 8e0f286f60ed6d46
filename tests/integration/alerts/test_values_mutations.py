"""Mutated render values either are refused naming a key, or render rules promtool accepts and an Alertmanager
config amtool accepts: a render that passes but leaves Prometheus or Alertmanager unable to load its output is
the worst kind of values error. Each mutation replaces one or two values of observe/render/values.yaml with others
of the same type (odd strings, extreme numbers, emptied or doubled lists); the seed is fixed. This found a newline
in a job name (a rules file that was not YAML), a webhook URL without a scheme and an empty SMTP sender."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from observe.config import ConfigError
from observe.render.renderer import render, write
from tests.mutate import mutated
from tests.peers.base import which

pytestmark = pytest.mark.integration
VALUES = yaml.safe_load((Path(__file__).resolve().parents[3] / "observe" / "render" / "values.yaml").read_text())
STRINGS = ["", 'a"b', "back\\slash", "new\nline", "ü日本", "x" * 300, "{{ .Foo }}", "[[ x ]]", "{% raw %}", "<script>",
           "a@b.c", "http://h:1/p", "-1", "10m", "*", ".*", "x{4294967296}", "((((", "hooks.example.com/x"]
NUMBERS = [0, 1, -1, 2**31, 2**63, 10**30, -1.5, 1e308]
RENDERS = 40


def _other(rng: random.Random, value: Any, key: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return rng.choice(NUMBERS)
    if isinstance(value, list):
        return [] if rng.random() < 0.5 else value + value
    if isinstance(value, dict):
        return {} if rng.random() < 0.3 else value
    return rng.choice(STRINGS)


def mutations(seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    while True:
        doc, changed = mutated(rng, VALUES, _other, most=2)
        yield ", ".join(changed), doc


def _check(tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(which(tool)), *map(str, args)], capture_output=True, text=True)


def test_every_mutated_values_file_is_refused_or_renders_what_promtool_and_amtool_accept(tmp_path: Path) -> None:
    from tests.peers import alertmanager, prometheus

    prometheus.install()
    alertmanager.install()
    rendered = refused = 0
    for n, (changed, doc) in enumerate(mutations(20261205)):
        if rendered >= RENDERS:
            break
        values = tmp_path / f"values-{n}.yaml"
        values.write_text(yaml.safe_dump(doc))
        try:
            outputs = render(values)
        except ConfigError:
            refused += 1
            continue
        out = tmp_path / f"out-{n}"
        write(outputs, out)
        rules = sorted((out / "rules").glob("*.yaml"))
        assert rules, changed
        result = _check("promtool", "check", "rules", *rules)
        assert result.returncode == 0, f"{changed}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        result = _check("amtool", "check-config", out / "alertmanager" / "alertmanager.yaml")
        assert result.returncode == 0, f"{changed}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
        rendered += 1
    assert refused > 0 and rendered == RENDERS  # both sides are exercised
