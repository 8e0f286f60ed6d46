"""The one deep merge: config layers, chart values, index mappings and document fields all combine this way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """A new mapping: `extra` over `base`, objects merged key by key; any other value (lists too) replaces."""
    out = dict(base)
    for key, value in extra.items():
        old = out.get(key)
        # Most keys are new (a parsed log line's fields over the document): no type checks for them.
        if old is not None and isinstance(old, Mapping) and isinstance(value, Mapping):
            value = deep_merge(old, value)
        out[key] = value
    return out
