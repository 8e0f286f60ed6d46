"""The Prometheus text format and OpenMetrics, written by hand where a service pre-renders its metrics.

One place for label escaping, number formatting, the HELP/TYPE header and the counter `_total` rule, used by
the cluster exporter's pre-rendered families, the trace puller, the probe exporter and the Elasticsearch
exporter. (Metrics kept in a prometheus_client registry are written by prometheus_client itself.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

OPENMETRICS_EOF = b"# EOF\n"
_INF = float("inf")
_BIG = 10**15  # integers at least this large are written as floats, as Go's strconv does for a float64


def escape(value: str) -> str:
    """A label value escaped for the text formats (backslash, double quote, newline)."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def escape_help(text: str) -> str:
    """A HELP text escaped (backslash, newline)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def labels(pairs: Iterable[tuple[str, str]]) -> str:
    """`a="x",b="y"` from (name, value) pairs."""
    return ",".join(f'{k}="{escape(v)}"' for k, v in pairs)


def zip_labels(names: Sequence[str], values: Sequence[str]) -> str:
    """`a="x",b="y"` from label names and their values."""
    return labels(zip(names, values, strict=True))


def number(value: float) -> str:
    """Integers without a decimal point (most Kubernetes values), other floats in Go's shortest form."""
    if type(value) is int and -_BIG < value < _BIG:  # the common case first: 0, 1, counts
        return str(value)
    if value != value:
        return "NaN"
    if value in (_INF, -_INF):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def family_name(name: str, kind: str, openmetrics: bool) -> str:
    """The name a family is announced under: OpenMetrics names a counter family without its `_total` suffix."""
    if openmetrics and kind == "counter" and name.endswith("_total"):
        return name[: -len("_total")]
    return name


def header(name: str, kind: str, help_text: str, openmetrics: bool = False) -> str:
    """The `# HELP` and `# TYPE` lines of one family."""
    family = family_name(name, kind, openmetrics)
    return f"# HELP {family} {escape_help(help_text)}\n# TYPE {family} {kind}\n"


def line(name: str, prefix: str, extra: str, value: float) -> str:
    """One sample: prefix holds the object's identity labels, extra the per-sample labels (either may be empty)."""
    if prefix and extra:
        return f"{name}{{{prefix},{extra}}} {number(value)}\n"
    if prefix or extra:
        return f"{name}{{{prefix or extra}}} {number(value)}\n"
    return f"{name} {number(value)}\n"


def sample(name: str, label_text: str, value: str) -> str:
    """One sample line from already formatted labels (may be empty) and value."""
    return f"{name}{{{label_text}}} {value}\n" if label_text else f"{name} {value}\n"
