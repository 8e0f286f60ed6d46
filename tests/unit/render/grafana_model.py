"""Load a rendered dashboard into grafana-foundation-sdk's Dashboard model and report what did not survive."""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

register_default_plugins()


def round_trip(data: dict[str, Any]) -> dict[str, Any]:
    """Dashboard.from_json(data).to_json(), as plain JSON data."""
    result: dict[str, Any] = json.loads(json.dumps(Dashboard.from_json(data), cls=JSONEncoder))
    return result


def lost(original: Any, kept: Any, path: str = "") -> list[str]:
    """Paths of every value in `original` that is missing or different in `kept` (defaults added by the model are fine)."""
    if isinstance(original, dict):
        if not isinstance(kept, dict):
            return [f"{path}: became {type(kept).__name__}"]
        out: list[str] = []
        for key, value in original.items():
            if key not in kept:
                out.append(f"{path}.{key}: dropped")
            else:
                out += lost(value, kept[key], f"{path}.{key}")
        return out
    if isinstance(original, list):
        if not isinstance(kept, list) or len(kept) != len(original):
            return [f"{path}: list changed"]
        return [p for i, (a, b) in enumerate(zip(original, kept, strict=True)) for p in lost(a, b, f"{path}[{i}]")]
    return [] if original == kept else [f"{path}: {original!r} became {kept!r}"]
