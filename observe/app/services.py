"""The registry of services: every long-running part of the suite, typed, built from the whole config.

`observe up`, the `observe ship|export|traces pull` commands and the metrics reference find services here,
never by a module string. A part's module is imported only when its service is built, so a build without a
component still runs the rest (`observe up` lists it as not installed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from observe.app.config import Config
from observe.service import Service


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its name in `observe up`'s table, its process name (logs, spans) and how to build it."""

    title: str
    process: str
    build: Callable[[Config, CollectorRegistry], Service]


def _shipper(config: Config, registry: CollectorRegistry) -> Service:
    from observe.logs.service import ShipperService

    return ShipperService(config.logs, config.elasticsearch, config.kube, registry)


def _cluster(config: Config, registry: CollectorRegistry) -> Service:
    from exporters.cluster.service import ClusterService

    return ClusterService(config.exporters.cluster, config.kube, registry)


def _probe(config: Config, registry: CollectorRegistry) -> Service:
    from exporters.probe.service import ProbeService

    return ProbeService(config.exporters.probe, config.kube, registry)


def _elasticsearch(config: Config, registry: CollectorRegistry) -> Service:
    from exporters.elasticsearch.service import ElasticsearchService

    return ElasticsearchService(config.exporters.elasticsearch, config.elasticsearch, registry)


def _traces(config: Config, registry: CollectorRegistry) -> Service:
    from observe.traces.service import TracesService

    return TracesService(config.traces, registry)


SHIPPER = ServiceSpec("logs", "observe-shipper", _shipper)
CLUSTER = ServiceSpec("cluster exporter", "observe-cluster-exporter", _cluster)
PROBE = ServiceSpec("probe exporter", "observe-probe-exporter", _probe)
ELASTICSEARCH = ServiceSpec("elasticsearch exporter", "observe-elasticsearch-exporter", _elasticsearch)
TRACES = ServiceSpec("trace puller", "observe-traces", _traces)
SERVICES: tuple[ServiceSpec, ...] = (SHIPPER, CLUSTER, PROBE, ELASTICSEARCH, TRACES)
