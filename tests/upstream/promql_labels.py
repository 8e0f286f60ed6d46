"""Which kube_* families a PromQL expression reads, and which of their labels it filters or groups on.

A small scanner, not a full PromQL parser: it knows selectors, aggregations (`by` before or after the body),
`on(...)`/`group_left(...)` and label_replace(). A label is attributed to a family when
- the family's selector matches on it (`{phase="Running"}`), or
- an aggregation whose body holds no other metric groups by it (`max by (namespace, pod) (kube_pod_owner)`), or
- `on(...)`/`group_x(...)` joins on it and the family's selector stands right next to the operator.
Labels the scrape adds (job, instance, cluster, ...) and labels label_replace() creates are left out: an exporter
cannot be asked to expose them.

Upstream dashboards keep their PromQL in jsonnet strings with `%(name)s` placeholders, Grafana `$variables` and
`label_values(query, label)` variable queries: from_template() makes such a string plain PromQL first.

Run as a script on a file of expressions separated by lines of `---` to print the facts as YAML (`--template`
runs from_template() on each first).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable

import yaml

TARGET_LABELS = frozenset({"job", "instance", "cluster", "metrics_path", "endpoint", "service", "prometheus",
                           "container_name", "__name__"})
AGGREGATIONS = frozenset({"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
                          "group", "count_values"})
_TOKEN = re.compile(r'''\s+|(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<brace>\{[^}]*\})|(?P<range>\[[^\]]*\])'''
                    r'''|(?P<id>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<num>\d+(?:\.\d+)?)|(?P<op>[(),]|[\]^*/%+\-<>=!]+)''')
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)')
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                       "offset"})


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(expr):
        kind = m.lastgroup
        if kind is not None:
            out.append((kind, m.group(kind)))
    return out


def _label_list(tokens: list[tuple[str, str]], i: int) -> tuple[list[str], int]:
    """The identifiers of `( a, b )` starting at tokens[i] == "(", and the index after ")"."""
    labels: list[str] = []
    i += 1
    while i < len(tokens) and tokens[i][1] != ")":
        if tokens[i][0] == "id":
            labels.append(tokens[i][1])
        i += 1
    return labels, i + 1


def _created_labels(tokens: list[tuple[str, str]]) -> set[str]:
    """Destination labels of label_replace() calls: the string after the first argument."""
    created: set[str] = set()
    for i, (_, text) in enumerate(tokens):
        if text != "label_replace" or i + 1 >= len(tokens) or tokens[i + 1][1] != "(":
            continue
        depth, j = 1, i + 2
        while j < len(tokens) and not (depth == 1 and tokens[j][1] == ","):
            depth += {"(": 1, ")": -1}.get(tokens[j][1], 0)
            j += 1
        if j + 1 < len(tokens) and tokens[j + 1][0] == "str":
            created.add(tokens[j + 1][1][1:-1])
    return created


def kube_labels(expr: str) -> dict[str, set[str]]:
    """{family: labels it is filtered or grouped on} for every kube_* family the expression reads."""
    tokens = _tokens(expr)
    found: dict[str, set[str]] = {}
    # Stack of open parentheses: (aggregation labels or None, families seen inside, other metrics inside).
    stack: list[list[object]] = []
    pending_agg: list[str] | None = None
    pending_join: list[str] = []
    ends: dict[int, str] = {}  # token index where a family's selector ends -> family (for `x * on(...) y`)
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        nxt = tokens[i + 1][1] if i + 1 < len(tokens) else ""
        if kind == "id" and text in AGGREGATIONS and nxt in ("(", "by", "without"):
            pending_agg = []
            if nxt in ("by", "without"):
                labels, i = _label_list(tokens, i + 2)
                pending_agg = labels if nxt == "by" else []
                continue
            i += 1
            continue
        if kind == "id" and text in ("on", "group_left", "group_right") and nxt == "(":
            i_on = i
            labels, i = _label_list(tokens, i + 1)
            pending_join.extend(labels)
            if text == "on" and i - 2 >= 0 and ends.get(i_on - 2) is not None:
                found[ends[i_on - 2]].update(labels)
            continue
        if kind == "id" and text in ("ignoring", "without") and nxt == "(":
            _, i = _label_list(tokens, i + 1)
            continue
        if text == "(":
            stack.append([pending_agg, set(), 0])
            pending_agg = None
            i += 1
            continue
        if text == ")":
            agg, families, others = stack.pop() if stack else (None, set(), 0)
            assert isinstance(families, set) and isinstance(others, int)
            # A trailing `by (...)`, as in `sum(x) by (node)`.
            if i + 2 < len(tokens) and tokens[i + 1][1] == "by" and tokens[i + 2][1] == "(":
                agg, i = _label_list(tokens, i + 2)
                i -= 1
            if isinstance(agg, list) and len(families) == 1 and not others:
                found[next(iter(families))].update(agg)
            if stack:
                parent_families, = (stack[-1][1],)
                assert isinstance(parent_families, set)
                parent_families.update(families)
                stack[-1][2] = int(stack[-1][2]) + others  # type: ignore[call-overload]
            i += 1
            continue
        if kind == "id" and text not in _KEYWORDS and nxt != "(":
            if text.startswith("kube_") and ":" not in text:
                labels = set()
                j = i + 1
                if j < len(tokens) and tokens[j][0] == "brace":
                    labels.update(_MATCHER.findall(tokens[j][1]))
                    j += 1
                found.setdefault(text, set()).update(labels, pending_join)
                if stack:
                    families = stack[-1][1]
                    assert isinstance(families, set)
                    families.add(text)
                pending_join = []
                ends[j - 1] = text
                i = j
                continue
            if tokens[i - 1][1] not in ("by", "without") if i else True:
                # Some other metric (a recording rule, cAdvisor's): it shares the aggregation.
                if stack:
                    stack[-1][2] = int(stack[-1][2]) + 1  # type: ignore[call-overload]
                pending_join = []
                j = i + 1
                if j < len(tokens) and tokens[j][0] == "brace":
                    j += 1
                i = j
                continue
        if kind == "num":
            pending_join = []
        i += 1
    created = _created_labels(tokens)
    return {f: {x for x in labels if x not in TARGET_LABELS and x not in created} for f, labels in found.items()}


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_VARIABLE = re.compile(r"\$__\w+|\$\{?\w+\}?")
_LABEL_VALUES = re.compile(r"label_values\((.*),\s*([A-Za-z_]\w*)\s*\)\s*$", re.S)


def _placeholder(m: re.Match[str]) -> str:
    name = m.group(1)
    if name.endswith("Selector"):
        return 'job="x"'  # a scrape selector: `job` is a target label, left out of the facts
    if name.endswith("Label"):
        return {"clusterLabel": "cluster"}.get(name, name[:-len("Label")])  # namespaceLabel -> namespace
    return "1"  # a number (multiplier) or an interval, which only stands inside [] or as a factor


def from_template(text: str) -> str:
    """A jsonnet/Grafana query template as plain PromQL: placeholders, variables and label_values() replaced."""
    expr = _VARIABLE.sub("x", _PLACEHOLDER.sub(_placeholder, text.replace("%%", "%")))
    m = _LABEL_VALUES.match(expr.strip())
    if m:  # the label a variable lists is a label the query groups on
        expr = f"max by ({m.group(2)}) ({m.group(1)})"
    return expr


def merge(exprs: Iterable[str]) -> dict[str, set[str]]:
    """kube_labels() over many expressions, united per family."""
    out: dict[str, set[str]] = {}
    for expr in exprs:
        for family, labels in kube_labels(expr).items():
            out.setdefault(family, set()).update(labels)
    return out


def main(paths: list[str]) -> None:
    """Print {family: sorted labels} for the expressions in the files (separated by lines of ---)."""
    template = "--template" in paths
    exprs = [e for p in paths if p != "--template" for e in open(p).read().split("\n---\n") if e.strip()]
    if template:
        exprs = [from_template(e) for e in exprs]
    print(yaml.safe_dump({f: sorted(x) for f, x in sorted(merge(exprs).items())}, sort_keys=True))


if __name__ == "__main__":
    main(sys.argv[1:])
