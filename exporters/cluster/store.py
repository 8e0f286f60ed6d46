"""Pre-rendered metric text per family and object: a watch event replaces one object's text, a scrape joins.

The joined text of a family is cached until one of its objects changes, so a scrape costs a join of the families that
changed since the last scrape plus one more join of the cached pieces.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from exporters.cluster.family import Family


class FamilyStore:
    """Text per (family, object key) under a series budget; what does not fit is counted, never silently lost."""

    def __init__(self, families: Iterable[Family], budget: int = 0,
                 on_drop: Callable[[str, int], None] | None = None) -> None:
        self.families = list(families)
        self.budget = budget
        self.on_drop = on_drop
        self.chunks: dict[str, dict[str, bytes]] = {f.name: {} for f in self.families}
        self.series = 0
        self._joined: dict[str, bytes] = {}
        self._dirty: set[str] = set()
        self._headers = {om: {f.name: f.header(om) for f in self.families} for om in (False, True)}
        self.stale_serves = 0

    def put(self, key: str, families: Iterable[Family], rendered: Mapping[str, bytes]) -> None:
        """Replace one object's text in each of its families (absent in `rendered` means no series)."""
        for fam in families:
            chunks = self.chunks[fam.name]
            new = rendered.get(fam.name)
            old = chunks.get(key)
            if new == old:
                continue
            added = new.count(b"\n") if new else 0
            removed = old.count(b"\n") if old else 0
            if self.budget and added > removed and self.series + added - removed > self.budget:
                # Over budget: this object's series for the family go away (no stale values) and are counted.
                if old is not None:
                    del chunks[key]
                    self.series -= removed
                    self._dirty.add(fam.name)
                if self.on_drop is not None:
                    self.on_drop(fam.name, added)
                continue
            if new:
                chunks[key] = new
            elif old is not None:
                del chunks[key]
            self.series += added - removed
            self._dirty.add(fam.name)

    def delete(self, key: str, families: Iterable[Family]) -> None:
        """Forget one object: its series disappear from the next scrape."""
        for fam in families:
            old = self.chunks[fam.name].pop(key, None)
            if old is not None:
                self.series -= old.count(b"\n")
                self._dirty.add(fam.name)

    def exposition(self, openmetrics: bool, deadline: float | None = None) -> bytes:
        """HELP/TYPE plus the samples of every non-empty family.

        Past `deadline` (time.monotonic()), families that changed are served from their last join instead of being
        joined again, so a scrape answers within Prometheus' timeout; stale_serves counts those.
        """
        headers = self._headers[openmetrics]
        parts: list[bytes] = []
        for fam in self.families:
            name = fam.name
            if name in self._dirty:
                if deadline is not None and time.monotonic() > deadline and name in self._joined:
                    self.stale_serves += 1
                else:
                    self._joined[name] = b"".join(self.chunks[name].values())
                    self._dirty.discard(name)
            body = self._joined.get(name, b"")
            if body:
                parts.append(headers[name])
                parts.append(body)
        return b"".join(parts)
