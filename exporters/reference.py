"""Generates docs/metrics.md from the metric definitions in the code, so the reference cannot drift."""

from __future__ import annotations

from exporters.cluster.kinds import KINDS

HEADER = ("<!-- Generated from the metric definitions by `observe export metrics-reference > docs/metrics.md`. "
          "Do not edit by hand. -->\n")


def render_reference() -> str:
    """The Markdown reference of every metric family."""
    lines = [HEADER, "# Metrics reference\n", "## Cluster exporter (`observe export cluster`)\n",
             "| family | type | resource | help |", "|---|---|---|---|"]
    for name, kind in KINDS.items():
        for f in kind.families:
            lines.append(f"| `{f.name}` | {f.type} | {name} | {f.help} |")
    return "\n".join(lines) + "\n"
