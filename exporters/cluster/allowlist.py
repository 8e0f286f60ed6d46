"""kube-state-metrics allowlists: `pods=[app,team],namespaces=[*]` turned into Prometheus labels."""

from __future__ import annotations

import re
from collections.abc import Mapping

_INVALID = re.compile(r"[^a-zA-Z0-9_]")
_ENTRY = re.compile(r"\s*([a-z0-9*]+)\s*=\s*\[([^\]]*)\]\s*(?:,|$)")


class AllowlistError(ValueError):
    """The allowlist text does not follow `resource=[key,...],...`."""


def parse(text: str) -> dict[str, list[str]]:
    """{"pods": ["app", "team"], ...}; "*" as a resource applies to all, "*" as a key allows every key."""
    out: dict[str, list[str]] = {}
    text = text.strip()
    pos = 0
    while pos < len(text):
        m = _ENTRY.match(text, pos)
        if m is None:
            raise AllowlistError(f"cannot parse {text[pos:]!r}; expected resource=[key1,key2,...] entries "
                                 "separated by commas, e.g. pods=[app,team],namespaces=[*]")
        keys = [k.strip() for k in m.group(2).split(",") if k.strip()]
        out.setdefault(m.group(1), []).extend(keys)
        pos = m.end()
    return out


def for_resource(allow: Mapping[str, list[str]], resource: str) -> list[str]:
    """The keys allowed for one resource (its own entry plus any "*" entry)."""
    return [*allow.get(resource, ()), *allow.get("*", ())]


def sanitize(name: str) -> str:
    """A Kubernetes key as a Prometheus label name suffix: every invalid character becomes `_`."""
    return _INVALID.sub("_", name)


def prometheus_pairs(prefix: str, source: Mapping[str, str] | None, allowed: list[str]) -> list[tuple[str, str]]:
    """(label_app, value) pairs for the allowed keys, sorted; keys that collide after sanitizing get _conflictN."""
    if not source or not allowed:
        return []
    keys = sorted(source) if "*" in allowed else sorted(k for k in set(allowed) if k in source)
    pairs: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for key in keys:
        name = f"{prefix}_{sanitize(key)}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_conflict{seen[name]}"
        else:
            seen[name] = 0
        pairs.append((name, str(source[key])))
    return pairs
