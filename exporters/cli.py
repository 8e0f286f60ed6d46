"""CLI commands of the exporters: `observe export cluster|probe|elasticsearch|metrics-reference`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from observe.app.options import config_option
from observe.app.services import CLUSTER, ELASTICSEARCH, PROBE, ServiceSpec


def _run(config_path: Path | None, overrides: dict[str, Any], spec: ServiceSpec) -> None:
    """Load the config with CLI overrides, then serve one exporter until SIGTERM."""
    from prometheus_client import CollectorRegistry

    from observe.app.config import load_config
    from observe.config import ConfigError
    from observe.ecs_logging import setup_logging
    from observe.glibc import fix_mmap_threshold
    from observe.service import ServiceHost, tune_collector
    from observe.tracing import setup_tracing

    try:
        cfg = load_config(config_path, overrides=overrides)
    except ConfigError as exc:
        click.echo(f"observe: {exc}", err=True)
        sys.exit(2)
    setup_logging(cfg.service.log_level, spec.process)
    setup_tracing(cfg.service.otlp_endpoint, spec.process)
    registry = CollectorRegistry()
    try:
        service = spec.build(cfg, registry)
    except ValueError as exc:
        click.echo(f"observe: {exc}", err=True)
        sys.exit(2)
    host = ServiceHost(cfg.service, [service], registry)
    if spec is CLUSTER:  # the one exporter that reads pages of megabytes (observe.glibc.fix_mmap_threshold)
        fix_mmap_threshold()
    tune_collector()
    sys.exit(asyncio.run(host.serve()))


def _set(overrides: dict[str, Any], path: str, value: Any) -> None:
    if value is None:
        return
    node = overrides
    *parents, leaf = path.split(".")
    for p in parents:
        node = node.setdefault(p, {})
    node[leaf] = value


@click.group("export")
def export() -> None:
    """Metric exporters: cluster state, probes, Elasticsearch."""


@export.command("cluster")
@config_option
@click.option("--resources", default=None, help="Comma-separated resources to export (kube-state-metrics names).")
@click.option("--metric-labels-allowlist", default=None, help="e.g. pods=[app,team],namespaces=[*]")
@click.option("--metric-annotations-allowlist", default=None, help="Same syntax, for annotations.")
@click.option("--shard", type=int, default=None, help="This instance's shard (0-based).")
@click.option("--total-shards", type=int, default=None, help="Number of shards.")
@click.option("--series-budget", type=int, default=None, help="Most series to export; 0 = no limit.")
@click.option("--kubeconfig", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--port", type=int, default=None, help="HTTP port for /metrics.")
def cluster(config_path: Path | None, resources: str | None, metric_labels_allowlist: str | None,
            metric_annotations_allowlist: str | None, shard: int | None, total_shards: int | None,
            series_budget: int | None, kubeconfig: Path | None, port: int | None) -> None:
    """Kubernetes object state as kube-state-metrics families."""
    o: dict[str, Any] = {}
    if resources is not None:
        _set(o, "exporters.cluster.resources", [r.strip() for r in resources.split(",") if r.strip()])
    _set(o, "exporters.cluster.metric_labels_allowlist", metric_labels_allowlist)
    _set(o, "exporters.cluster.metric_annotations_allowlist", metric_annotations_allowlist)
    _set(o, "exporters.cluster.shard", shard)
    _set(o, "exporters.cluster.total_shards", total_shards)
    _set(o, "exporters.cluster.series_budget", series_budget)
    _set(o, "kube.kubeconfig", str(kubeconfig) if kubeconfig else None)
    _set(o, "service.port", port)
    _run(config_path, o, CLUSTER)


@export.command("probe")
@config_option
@click.option("--port", type=int, default=None, help="HTTP port for /metrics, /probe and /targets.")
def probe(config_path: Path | None, port: int | None) -> None:
    """Blackbox-style probes (/probe?target=&module=) behind an allowlist, and /targets discovery."""
    o: dict[str, Any] = {}
    _set(o, "service.port", port)
    _run(config_path, o, PROBE)


@export.command("elasticsearch")
@config_option
@click.option("--url", default=None, help="Elasticsearch or OpenSearch base URL (elasticsearch.url).")
@click.option("--port", type=int, default=None, help="HTTP port for /metrics.")
def elasticsearch(config_path: Path | None, url: str | None, port: int | None) -> None:
    """Cluster health, node stats and data streams of Elasticsearch or OpenSearch."""
    o: dict[str, Any] = {}
    _set(o, "elasticsearch.url", url)
    _set(o, "service.port", port)
    _run(config_path, o, ELASTICSEARCH)


@export.command("metrics-reference")
def metrics_reference() -> None:
    """Print the metrics reference as Markdown (docs/metrics.md)."""
    from observe.app.metrics_reference import render_reference

    click.echo(render_reference(), nl=False)


commands: list[click.Command] = [export]
