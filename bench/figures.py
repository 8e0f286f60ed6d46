"""The figures docs/ quotes, checked against the result files they come from.

A measured figure in the docs carries its source just before it, as an HTML comment Markdown does not show:

    the shipper reached <!--fig logs.json elasticsearch.shipper_lines_per_s-->15,565 lines/s

The number right after the comment must be the result's value at the precision it is written with: `4.34` holds
for 4.339, `170` for 170.3, `23,000` for 23,047 (a written number is exact to its last non-zero digit), `0.97`
for 0.974. A key may be divided or multiplied (`... cpu_s_per_million_lines|inv*1e6` is 1e6 divided by it;
`|*1000` multiplies) for figures the docs derive from one key.

`python -m bench.figures` lists every figure and its result value; `--fix` rewrites the stale ones in place at
the precision they are written with (after `make bench`); `--against DIR` sets each figure's result beside the
same key in other runs' result files (more `make bench` runs, kept aside) and reports how far they differ, the
spread to quote with the figure; `--against DIR... --write` also writes bench/results/reproduction.json: the
largest difference per result section (`logs.processing`, `traces.spans_per_cpu_second`, ...), per key
(`difference_pct.logs.null_sink.lines_per_s`) and each run's commit and load, which the docs quote as the spread
of the figures near them.
tests/unit/bench/test_doc_figures.py fails on any
figure that disagrees, so a re-measured result cannot leave the docs quoting an older run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
DOCS = (REPO / "docs", REPO / "README.md")

FIGURE = re.compile(r"<!--fig (?P<file>[\w.-]+\.json) (?P<key>[\w.]+)(?:\|(?P<op>inv\*[\d.e+-]+|\*[\d.e+-]+))?-->"
                    r"(?P<text>-?\d+(?:,\d{3})*(?:\.\d+)?)")


@dataclass(frozen=True)
class Figure:
    """One annotated figure: where it is, what it says, and which result it quotes."""

    doc: Path
    line: int
    file: str
    key: str
    op: str | None
    text: str
    start: int
    end: int

    @property
    def source(self) -> str:
        return f"{self.file} {self.key}" + (f"|{self.op}" if self.op else "")


class FigureError(Exception):
    """An annotation that names no result."""


def find(doc: Path) -> list[Figure]:
    """The annotated figures of one Markdown file, in order."""
    text = doc.read_text()
    return [Figure(doc, text.count("\n", 0, m.start()) + 1, m["file"], m["key"], m["op"], m["text"],
                   m.start("text"), m.end("text"))
            for m in FIGURE.finditer(text)]


def docs(roots: tuple[Path, ...] = DOCS) -> list[Path]:
    """Every Markdown file the figures may live in."""
    out: list[Path] = []
    for root in roots:
        out += sorted(root.rglob("*.md")) if root.is_dir() else [root]
    return out


def value(figure: Figure, results: Path = RESULTS) -> float:
    """The result value the figure quotes (after its operation, if any)."""
    path = results / figure.file
    if not path.is_file():
        raise FigureError(f"{figure.doc.name}:{figure.line}: no result file {figure.file} in {results}")
    node: Any = json.loads(path.read_text())
    for part in figure.key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise FigureError(f"{figure.doc.name}:{figure.line}: {figure.file} has no key {figure.key}")
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise FigureError(f"{figure.doc.name}:{figure.line}: {figure.file} {figure.key} is not a number: {node!r}")
    number = float(node)
    if figure.op and figure.op.startswith("inv*"):
        return float(figure.op[4:]) / number
    if figure.op:
        return number * float(figure.op[1:])
    return number


def exponent(text: str) -> int:
    """The power of ten of the written number's last significant digit (`4.34` -> -2, `23,000` -> 3, `170` -> 1)."""
    plain = text.replace(",", "").lstrip("-")
    if "." in plain:
        return -len(plain.split(".")[1])
    stripped = plain.rstrip("0")
    return len(plain) - len(stripped) if stripped else 0


def rounded(number: float, exp: int) -> Decimal:
    """`number` rounded to a multiple of 10**exp (half away from zero, as people round)."""
    quantum = Decimal(1).scaleb(exp)
    return (Decimal(repr(number)) / quantum).quantize(Decimal(1), rounding="ROUND_HALF_UP") * quantum


def holds(figure: Figure, number: float) -> bool:
    """The written figure is the result at the precision it is written with."""
    written = Decimal(figure.text.replace(",", ""))
    return rounded(number, exponent(figure.text)) == written


def written(number: float, like: str) -> str:
    """`number` written the way `like` is: same precision, thousands separators if `like` has them."""
    exp = exponent(like)
    value_ = rounded(number, exp)
    if exp < 0:
        text = f"{value_:,.{-exp}f}" if "," in like else f"{value_:.{-exp}f}"
    else:
        text = f"{int(value_):,}" if "," in like else f"{int(value_)}"
    return text


def check(roots: tuple[Path, ...] = DOCS, results: Path = RESULTS) -> list[tuple[Figure, float, bool]]:
    """Every annotated figure with its result value and whether it holds."""
    out = []
    for doc in docs(roots):
        for figure in find(doc):
            number = value(figure, results)
            out.append((figure, number, holds(figure, number)))
    return out


def fix(roots: tuple[Path, ...] = DOCS, results: Path = RESULTS) -> list[tuple[Figure, str]]:
    """Rewrite every stale figure from its result, at the precision it is written with; the rewrites made."""
    done: list[tuple[Figure, str]] = []
    for doc in docs(roots):
        original = text = doc.read_text()
        figures = find(doc)
        for figure in reversed(figures):
            number = value(figure, results)
            if not holds(figure, number):
                new = written(number, figure.text)
                text = text[:figure.start] + new + text[figure.end:]
                done.append((figure, new))
        if text != original:
            doc.write_text(text)
    return done


def spread(other: Path, roots: tuple[Path, ...] = DOCS, results: Path = RESULTS
           ) -> list[tuple[Figure, float, float | None]]:
    """Every figure's result here and in the result files under `other` (None where that run lacks the key)."""
    out: list[tuple[Figure, float, float | None]] = []
    for figure, number, _ in check(roots, results):
        try:
            again: float | None = value(figure, other)
        except FigureError:
            again = None
        out.append((figure, number, again))
    return out


REPRODUCTION = "reproduction.json"


def reproduction(others: list[Path], roots: tuple[Path, ...] = DOCS, results: Path = RESULTS) -> dict[str, Any]:
    """How far other runs are from this one, figure by figure, and the largest difference of each result section.

    A section is a result file and the first part of the key (`logs.processing`); figures quoted from
    reproduction.json itself are left out. Differences are relative to this run's value, in per cent.
    """
    figures: dict[str, dict[str, Any]] = {}
    by_key: dict[str, Any] = {}  # the same nesting as the result files: difference_pct.logs.null_sink.lines_per_s
    for figure in (f for doc in docs(roots) for f in find(doc)):
        if figure.file == REPRODUCTION or figure.source in figures:
            continue
        number = value(figure, results)
        again = []
        for other in others:
            try:
                again.append(value(figure, other))
            except FigureError:
                continue
        diffs = [abs(a - number) / abs(number) * 100 for a in again if number]
        worst = round(max(diffs), 1) if diffs else None
        figures[figure.source] = {"here": number, "others": again, "largest_difference_pct": worst}
        if worst is not None:
            node = by_key.setdefault(figure.file.removesuffix(".json"), {})
            *parents, leaf = figure.key.split(".")
            for name in parents:
                node = node.setdefault(name, {})
            node[leaf] = max(node.get(leaf, 0.0), worst)  # two ops on one key: the larger
    largest = {file: {part: _largest(tree) for part, tree in sections.items()} for file, sections in by_key.items()}
    return {"runs": [_run(results), *(_run(o) for o in others)], "largest_difference_pct": largest,
            "difference_pct": by_key, "figures": figures}


def _largest(tree: float | dict[str, Any]) -> float:
    """The largest leaf of a nested dict of differences."""
    return max(map(_largest, tree.values())) if isinstance(tree, dict) else tree


def _run(results: Path) -> dict[str, Any]:
    """Commit, time and load of each result file of one run."""
    out: dict[str, Any] = {}
    for path in sorted(results.glob("*.json")):
        if path.name == REPRODUCTION or path.name.startswith("compare"):
            continue
        prov = json.loads(path.read_text()).get("provenance") or {}
        load = prov.get("load_average") or {}
        out[path.stem] = {"commit": str(prov.get("commit", ""))[:12], "measured_at": prov.get("measured_at"),
                          "load_1m": [load.get("one_minute_min"), load.get("one_minute_max")]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.figures", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fix", action="store_true", help="rewrite stale figures from bench/results")
    parser.add_argument("--against", type=Path, nargs="+", metavar="DIR", help="compare with other runs' result files")
    parser.add_argument("--write", action="store_true", help=f"with --against: write bench/results/{REPRODUCTION}")
    args = parser.parse_args(argv)
    try:
        if args.against and args.write:
            report = reproduction(args.against)
            (RESULTS / REPRODUCTION).write_text(json.dumps(report, indent=1) + "\n")
            print(json.dumps(report["largest_difference_pct"], indent=1))
            return 0
        if args.against:
            worst = 0.0
            for figure, number, again in spread(args.against[0]):
                diff = (again - number) / number * 100 if again is not None and number else None
                worst = max(worst, abs(diff)) if diff is not None else worst
                print(f"{figure.doc.relative_to(REPO)}:{figure.line}: {figure.source}: {number:,.4g} here, "
                      + (f"{again:,.4g} there ({diff:+.1f} %)" if diff is not None else "not in that run"))
            print(f"largest difference: {worst:.1f} %")
            return 0
        if args.fix:
            for figure, new in fix():
                print(f"{figure.doc.relative_to(REPO)}:{figure.line}: {figure.text} -> {new}  ({figure.source})")
            return 0
        stale = 0
        for figure, number, ok in check():
            stale += not ok
            print(f"{'ok   ' if ok else 'STALE'} {figure.doc.relative_to(REPO)}:{figure.line}: {figure.text} "
                  f"(result {number:,.4g}, {figure.source})")
    except FigureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if stale:
        print(f"{stale} figure(s) disagree with bench/results: run `python -m bench.figures --fix` after a "
              f"`make bench` you mean to publish, and re-read the sentences around them.", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
