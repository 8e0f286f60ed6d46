"""Series-by-series comparison of two Prometheus text expositions, with a committed list of known differences.

A series is (name, sorted labels); two series match when their values are equal as numbers (`1.34217728e+08` and
`134217728` are the same value). Every difference is either explained by a rule of the known-differences file
(bench/ksm_known_differences.yaml: what differs, and why it is acceptable) or reported as unexplained.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, tuple[tuple[str, str], ...]]
KNOWN_DIFFERENCES = Path(__file__).with_name("ksm_known_differences.yaml")
KINDS = ("only_ours", "only_theirs", "value")


def series(body: bytes | str, prefix: str = "") -> dict[Key, float]:
    """Every sample of an exposition whose name starts with `prefix`, keyed by name and sorted labels."""
    text = body.decode() if isinstance(body, bytes) else body
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefix):
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key in out:
                    raise ValueError(f"duplicate series {render(key)}")
                out[key] = sample.value
    return out


def render(key: Key) -> str:
    """A series key as exposition text: name{a="1",b="2"}."""
    name, labels = key
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}"


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@dataclass(frozen=True)
class Difference:
    kind: str  # only_ours, only_theirs or value
    key: Key
    ours: float | None
    theirs: float | None

    def __str__(self) -> str:
        return f"{self.kind}: {render(self.key)} ours={self.ours} theirs={self.theirs}"


def differences(ours: dict[Key, float], theirs: dict[Key, float]) -> list[Difference]:
    """Every series present on one side only, and every series whose values differ, in name order."""
    out = [Difference("only_ours", k, v, None) for k, v in ours.items() if k not in theirs]
    out += [Difference("only_theirs", k, None, v) for k, v in theirs.items() if k not in ours]
    out += [Difference("value", k, v, theirs[k]) for k, v in ours.items() if k in theirs and not _same(v, theirs[k])]
    return sorted(out, key=lambda d: (d.key, d.kind))


@dataclass(frozen=True)
class Rule:
    """One known difference: which series (kind, name pattern, label patterns) and why it is acceptable."""

    id: str
    kind: str
    name: re.Pattern[str]
    labels: dict[str, re.Pattern[str]]
    reason: str

    def matches(self, diff: Difference) -> bool:
        if diff.kind != self.kind or not self.name.fullmatch(diff.key[0]):
            return False
        have = dict(diff.key[1])
        return all(k in have and p.fullmatch(have[k]) for k, p in self.labels.items())


def load_rules(path: Path = KNOWN_DIFFERENCES) -> list[Rule]:
    """The known differences; each entry needs an id, a kind, a name pattern and a reason."""
    raw = yaml.safe_load(path.read_text()) or {}
    rules = []
    for i, entry in enumerate(raw.get("differences") or []):
        missing = [k for k in ("id", "kind", "name", "reason") if not entry.get(k)]
        if missing:
            raise ValueError(f"{path.name}: differences[{i}] lacks {', '.join(missing)}")
        if entry["kind"] not in KINDS:
            raise ValueError(f"{path.name}: differences[{i}].kind is {entry['kind']!r}; expected one of {', '.join(KINDS)}")
        rules.append(Rule(entry["id"], entry["kind"], re.compile(entry["name"]),
                          {k: re.compile(v) for k, v in (entry.get("labels") or {}).items()}, entry["reason"]))
    return rules


@dataclass
class Report:
    """The outcome of one comparison: counts, explained differences per rule, unexplained ones, uncovered families."""

    ours: int
    theirs: int
    identical: int
    explained: dict[str, int] = field(default_factory=dict)
    unexplained: list[Difference] = field(default_factory=list)
    families_without_series: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unexplained and not self.families_without_series

    def summary(self, limit: int = 20) -> dict[str, Any]:
        return {"series_ours": self.ours, "series_theirs": self.theirs, "identical": self.identical,
                "explained_by_rule": self.explained, "unexplained": len(self.unexplained),
                "unexplained_first": [str(d) for d in self.unexplained[:limit]],
                "families_without_series": self.families_without_series}


def compare(ours: dict[Key, float], theirs: dict[Key, float], rules: list[Rule],
            families: Iterable[str] = ()) -> Report:
    """Diff two expositions; `families` must each have at least one series on both sides."""
    diffs = differences(ours, theirs)
    report = Report(len(ours), len(theirs), sum(1 for k, v in ours.items() if k in theirs and _same(v, theirs[k])))
    for diff in diffs:
        rule = next((r for r in rules if r.matches(diff)), None)
        if rule is None:
            report.unexplained.append(diff)
        else:
            report.explained[rule.id] = report.explained.get(rule.id, 0) + 1
    names = [{name for name, _ in side} for side in (ours, theirs)]
    report.families_without_series = [f for f in families if not all(f in side for side in names)]
    return report
