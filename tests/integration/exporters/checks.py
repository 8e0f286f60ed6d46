"""Shared checks of exporter output."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterable


async def promtool_check(body: bytes, allowed_lint: Iterable[str] = ()) -> None:
    """Fail unless `promtool check metrics` accepts the text: no parse error, and no lint finding beyond
    `allowed_lint` (names fixed by compatibility with another exporter)."""
    proc = await asyncio.create_subprocess_exec("promtool", "check", "metrics", stdin=subprocess.PIPE,
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await proc.communicate(body)
    text = out.decode()
    if proc.returncode == 0:
        return
    assert proc.returncode == 3, f"promtool could not parse the exposition:\n{text}"
    findings = {line.strip() for line in text.splitlines() if line.strip()}
    assert findings <= set(allowed_lint), "\n".join(sorted(findings - set(allowed_lint)))


def samples(body: bytes) -> dict[str, float]:
    """{series: value} of a text exposition (comments skipped)."""
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values
