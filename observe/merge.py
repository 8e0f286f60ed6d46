"""The one deep merge: config layers, chart values, index mappings and document fields all combine this way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: `extra` over `base`, objects merged key by key; any other value (lists too) replaces."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        out[key] = deep_merge(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return out
