"""Same-type mutations of JSON-like documents, for tests that feed a component what a real peer or user could send
it: one to a few values replaced by others of the same type, chosen by a seeded random.Random."""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Iterator
from typing import Any

# rng, the value being replaced, its key -> the replacement
Other = Callable[[random.Random, Any, Any], Any]


def paths(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path into the document (dict keys and list indices), parents before children."""
    if path:
        yield path
    children = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in children:
        yield from paths(value, (*path, key))


def mutated(rng: random.Random, doc: Any, other: Other, most: int = 3) -> tuple[Any, list[str]]:
    """A deep copy of doc with 1 to `most` values replaced by other(rng, value, key), and the dotted paths changed."""
    out = copy.deepcopy(doc)
    every = list(paths(out))
    changed: list[str] = []
    for _ in range(rng.randint(1, most)):
        path = rng.choice(every)
        parent: Any = out
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = other(rng, parent[path[-1]], path[-1])
            changed.append(".".join(map(str, path)))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier replacement removed this path
    return out, changed
