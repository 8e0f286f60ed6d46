"""Span-name normalisation: ids in paths become placeholders, so one route is one series."""

from __future__ import annotations

import re

# A whole `/`-separated segment; the first alternative that fits names the placeholder.
_SEGMENT = re.compile(
    r"(?P<uuid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"|(?P<num>[+-]?\d+(?:\.\d+)?)"
    # Hex ids (object ids, hashes): long enough and with at least one digit, so words like "facade" stay.
    r"|(?P<hex>(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,})"
    # Opaque tokens (base64-ish ids): long, mixing letters and digits.
    r"|(?P<id>(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,})"
)
_DIGIT = re.compile(r"\d")
_CACHE_MAX = 100_000


def normalise_segment(segment: str) -> str:
    """A placeholder when the segment looks like an id or a number, else the segment."""
    if segment.isdigit():
        return "{num}"  # the common case, without the regex
    if not _DIGIT.search(segment):
        return segment  # every placeholder needs a digit (an all-letter UUID is not worth the cost)
    match = _SEGMENT.fullmatch(segment)
    return "{" + match.lastgroup + "}" if match is not None and match.lastgroup else segment


def _normalise(name: str) -> str:
    if "?" in name:
        name = name.split("?", 1)[0]
    parts = name.split("/")
    out = [normalise_segment(p) if p else p for p in parts]
    return name if out == parts else "/".join(out)


class NameNormaliser:
    """Normalises span names with a bounded cache: names repeat, so most calls are one dict lookup."""

    def __init__(self, cache_max: int = _CACHE_MAX) -> None:
        self._cache: dict[str, str] = {}
        self._cache_max = cache_max
        # The normalised name when cached, else None: the decoding loop calls this directly, saving a
        # Python-level call per span (the dict is cleared, never replaced, so the bound method stays valid).
        self.cached = self._cache.get

    def __call__(self, name: str) -> str:
        """The normalised name."""
        out = self._cache.get(name)
        if out is None:
            out = _normalise(name)
            if len(self._cache) >= self._cache_max:
                self._cache.clear()  # ids make unbounded distinct names; start over rather than grow
            self._cache[name] = out
        return out
