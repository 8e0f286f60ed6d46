"""What N pods imply (bench/scale_seed.py), and that the long scale bench runs only when named."""

from __future__ import annotations

from bench import __main__ as bench_main
from bench.scale_seed import Shape


def test_150k_pods_imply_5000_nodes_15000_deployments_150_namespaces() -> None:
    shape = Shape(150_000)
    assert shape.counts() == {"namespaces": 150, "nodes": 5_000, "deployments": 15_000, "replicasets": 15_000,
                              "pods": 150_000}
    # A deployment's pods all live in its namespace.
    assert shape.namespace_of(0) == "scale-0" and shape.namespace_of(99) == "scale-0"
    assert shape.namespace_of(100) == "scale-1" and shape.namespace_of(14_999) == "scale-149"


def test_small_and_uneven_counts_round_up() -> None:
    assert Shape(1).counts() == {"namespaces": 1, "nodes": 1, "deployments": 1, "replicasets": 1, "pods": 1}
    assert Shape(1_501).counts()["deployments"] == 151 and Shape(1_501).counts()["nodes"] == 51


def test_scale_bench_runs_only_when_named() -> None:
    assert "scale" in bench_main.discover()
    assert "scale" not in bench_main.default_names()
    assert "cluster_exporter" in bench_main.default_names()
