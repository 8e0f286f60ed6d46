"""Span-name normalisation: ids in paths become placeholders, so one route is one series."""

from __future__ import annotations

import re

# One path segment at a time; the first pattern that matches the whole segment wins.
_SEGMENT_RULES = (
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "{uuid}"),
    (re.compile(r"[+-]?\d+(?:\.\d+)?"), "{num}"),
    # Hex ids (object ids, hashes): long enough and with at least one digit, so words like "facade" stay.
    (re.compile(r"(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}"), "{hex}"),
    # Opaque tokens (base64-ish ids): long, mixing letters and digits.
    (re.compile(r"(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}"), "{id}"),
)
_SPLIT = re.compile(r"(/+)")
_CACHE_MAX = 100_000


def normalise_segment(segment: str) -> str:
    """A placeholder when the segment looks like an id or a number, else the segment."""
    for pattern, placeholder in _SEGMENT_RULES:
        if pattern.fullmatch(segment):
            return placeholder
    return segment


def _normalise(name: str) -> str:
    name = name.split("?", 1)[0]
    parts = _SPLIT.split(name)
    # Odd indexes are the separators. The host:port segment of an Envoy name matches no rule.
    return "".join(p if i % 2 else normalise_segment(p) for i, p in enumerate(parts))


class NameNormaliser:
    """Normalises span names with a bounded cache: names repeat, so most calls are one dict lookup."""

    def __init__(self, cache_max: int = _CACHE_MAX) -> None:
        self._cache: dict[str, str] = {}
        self._cache_max = cache_max

    def __call__(self, name: str) -> str:
        """The normalised name."""
        out = self._cache.get(name)
        if out is None:
            out = _normalise(name)
            if len(self._cache) >= self._cache_max:
                self._cache.clear()  # ids make unbounded distinct names; start over rather than grow
            self._cache[name] = out
        return out
