"""Every kind renders mutated objects without raising: bench/cluster_objects.py's objects of every kind, with one to
three values replaced by others of the same JSON type (odd strings, quantities, times, extreme integers, emptied or
doubled lists and maps). A render that raises leaves the whole object out of the exporter (counted, see
observe/kube/reflector.py), so each such value is a bug; this found five (quantities Decimal reads but Kubernetes
doesn't, superscript cron digits, over-long zone names, next runs past 9999)."""

from __future__ import annotations

import asyncio
import copy
import random
from typing import Any

import pytest

from bench import cluster_objects
from exporters.cluster.family import Options
from exporters.cluster.kinds import KINDS
from tests.mutate import mutated

STRINGS = ["", 'a"b', "back\\slash", "new\nline", "ü日本", "x" * 300, "-1", "1e3", "Infinity", "NaN", "²"]
QUANTITIES = ["0", "100m", "1.5", "1e3", "12e-3", "1Ki", "8Ei", "9223372036854775807", ".5", "5.", "1n", "+1", "-1",
              "123456789012345678901234567890", "NaN", "1_000"]
TIMES = ["2024-05-01T10:00:00Z", "2024-05-01T10:00:00.123456Z", "2024-05-01T10:00:00+02:00", "0001-01-01T00:00:00Z",
         "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z", "2024-05-01T10:00:00.123456789Z", "not a time"]
INTS = [0, 1, -1, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63)]
# Mutations per kind, spread over its objects (20 nodes get 30 each, the one cronjob 600).
ROUNDS = 600


def bench_objects() -> dict[str, list[dict[str, Any]]]:
    """The objects and statuses bench/cluster_objects.py would create, merged as the API server would hold them."""
    objs: dict[str, list[dict[str, Any]]] = {}

    async def call(method: str, path: str, body: dict[str, Any]) -> None:
        parts = path.strip("/").split("/")
        if method == "POST":
            obj = copy.deepcopy(body)
            md = obj.setdefault("metadata", {})
            md.update(uid=f"u{sum(map(len, objs.values()))}", creationTimestamp="2024-05-01T10:00:00Z")
            if "namespaces" in parts[:-1]:
                md["namespace"] = parts[parts.index("namespaces") + 1]
            objs.setdefault(parts[-1], []).append(obj)
        else:  # PATCH .../<plural>/<name>/status
            for obj in objs.get(parts[-3], []):
                if obj["metadata"]["name"] == parts[-2]:
                    obj.update(copy.deepcopy(body))

    asyncio.run(cluster_objects.seed(call, namespaces=1, nodes=20, deployments=2, pods=10))
    return objs


OBJECTS = bench_objects()


def _other(rng: random.Random, value: Any, key: Any) -> Any:
    """A value of the same JSON type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return rng.choice(INTS)
    if isinstance(value, str):
        if isinstance(key, str) and ("Time" in key or key.endswith("At") or key == "creationTimestamp"):
            return rng.choice(TIMES)
        return rng.choice(QUANTITIES if rng.random() < 0.4 else STRINGS)
    if isinstance(value, list):
        return [] if rng.random() < 0.5 else value + value
    if isinstance(value, dict):
        return {} if rng.random() < 0.5 else {**value, rng.choice(STRINGS) or "k": rng.choice(STRINGS)}
    return value


def test_the_bench_objects_cover_every_kind() -> None:
    assert sorted(OBJECTS) == sorted(KINDS)


@pytest.mark.parametrize("plural", sorted(KINDS))
def test_a_kind_renders_mutated_objects_without_raising(plural: str) -> None:
    rng = random.Random(plural)
    opts = Options(["*"], ["*"])
    for obj in OBJECTS[plural]:
        KINDS[plural].render(obj, opts)
        for _ in range(ROUNDS // len(OBJECTS[plural])):
            doc, _ = mutated(rng, obj, _other)
            try:
                KINDS[plural].render(doc, opts)
            except Exception as exc:
                raise AssertionError(f"{plural} raised {type(exc).__name__}: {exc} on {doc!r:.2000}") from exc
