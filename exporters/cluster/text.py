"""Prometheus text pieces: label escaping, value formatting, one sample line."""

from __future__ import annotations

from collections.abc import Iterable


def escape(value: str) -> str:
    """A label value escaped for the text formats (backslash, double quote, newline)."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def labels(pairs: Iterable[tuple[str, str]]) -> str:
    """`a="x",b="y"` from (name, value) pairs."""
    return ",".join(f'{k}="{escape(v)}"' for k, v in pairs)


def number(value: float) -> str:
    """Integers without a decimal point (most Kubernetes values), other floats in Go's shortest form."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def line(name: str, prefix: str, extra: str, value: float) -> str:
    """One sample: prefix holds the object's identity labels, extra the per-sample labels (either may be empty)."""
    if prefix and extra:
        return f"{name}{{{prefix},{extra}}} {number(value)}\n"
    if prefix or extra:
        return f"{name}{{{prefix or extra}}} {number(value)}\n"
    return f"{name} {number(value)}\n"
