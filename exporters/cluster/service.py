"""The cluster exporter service: one reflector per resource, text rendered per object on events, joined on scrape."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporters.cluster import allowlist
from exporters.cluster.family import Family, Kind, Options
from exporters.cluster.kinds import KINDS
from exporters.cluster.shard import owns
from exporters.cluster.store import FamilyStore
from exporters.config import ClusterExporterConfig
from observe.config import KubeConfig
from observe.kube import KubeClient, Reflector
from observe.service import BaseService, scrape_timeout

log = logging.getLogger("observe.exporters.cluster")

Rendered = dict[str, bytes]
# Answer this much before Prometheus' own timeout, for the network and the kit's part of /metrics.
SCRAPE_MARGIN_SECONDS = 0.5
# The `resource` label of kube-state-metrics' own list/watch counters: the Go type its informer watches.
GO_TYPES = {
    "pods": "*v1.Pod", "nodes": "*v1.Node", "namespaces": "*v1.Namespace", "services": "*v1.Service",
    "deployments": "*v1.Deployment", "replicasets": "*v1.ReplicaSet", "statefulsets": "*v1.StatefulSet",
    "daemonsets": "*v1.DaemonSet", "jobs": "*v1.Job", "cronjobs": "*v1.CronJob",
    "horizontalpodautoscalers": "*v2.HorizontalPodAutoscaler", "resourcequotas": "*v1.ResourceQuota",
    "persistentvolumeclaims": "*v1.PersistentVolumeClaim", "persistentvolumes": "*v1.PersistentVolume",
    "poddisruptionbudgets": "*v1.PodDisruptionBudget",
}


class ClusterService(BaseService):
    """Watches the configured resources and serves kube-state-metrics families from pre-rendered text."""

    name = "cluster-exporter"

    def __init__(self, config: ClusterExporterConfig, kube: KubeConfig, registry: CollectorRegistry,
                 client: KubeClient | None = None) -> None:
        self.config = config
        self.kube = kube
        self.client = client
        self.kinds = [KINDS[name] for name in config.resources]
        labels_allow = allowlist.parse(config.metric_labels_allowlist)
        annotations_allow = allowlist.parse(config.metric_annotations_allowlist)
        self.options = {k.name: Options(allowlist.for_resource(labels_allow, k.name),
                                        allowlist.for_resource(annotations_allow, k.name)) for k in self.kinds}
        self.dropped = Counter("observe_exporter_series_dropped", "Series not exported because the series budget was "
                               "full, by family.", ["family"], registry=registry)
        self.store = FamilyStore([f for k in self.kinds for f in k.families], config.series_budget,
                                 on_drop=lambda fam, n: self.dropped.labels(fam).inc(n))
        self.reflectors: dict[str, Reflector[Rendered]] = {}
        registry.register(_ReflectorCollector(self))

    def _transform(self, kind: Kind) -> Any:
        opts = self.options[kind.name]

        def render(obj: Mapping[str, Any]) -> Rendered:
            return kind.render(obj, opts)

        return render

    def _transform_message(self, kind: Kind) -> Any:
        """The renderer of a protobuf LIST item itself, when the kind has one (else items become dicts first)."""
        render_message, opts = kind.render_message, self.options[kind.name]
        if render_message is None or self._protobuf(kind) is None:
            return None

        def render(msg: Any) -> Rendered:
            return render_message(msg, opts)

        return render

    def _owns(self) -> Callable[[str], bool] | None:
        """This shard's UID predicate (None unsharded): the reflector skips other shards' objects before decoding."""
        shard, total = self.config.shard, self.config.total_shards
        return None if total <= 1 else (lambda uid: owns(uid, shard, total))

    def _protobuf(self, kind: Kind) -> str | None:
        """The list message to LIST this kind in protobuf, or None for JSON (the kind has none, or config says json)."""
        return kind.protobuf if self.config.list_encoding == "protobuf" else None

    def _callbacks(self, kind: Kind) -> dict[str, Any]:
        families: tuple[Family, ...] = kind.families
        store = self.store

        def upsert(key: str, rendered: Rendered) -> None:
            store.put(key, families, rendered)

        def forget(key: str) -> None:
            store.delete(key, families)

        return {"on_add": upsert, "on_update": upsert, "on_forget": forget}

    async def start(self) -> None:
        """Connect and start one reflector per resource; readiness waits for their first LIST."""
        if self.client is None:
            self.client = await KubeClient.from_config(self.kube)
        for kind in self.kinds:
            # The store holds the rendered text; the reflector keeps only keys and resourceVersions.
            r: Reflector[Rendered] = Reflector(self.client, kind.api, transform=self._transform(kind),
                                               transform_message=self._transform_message(kind),
                                               keep_objects=False, owns=self._owns(), protobuf=self._protobuf(kind),
                                               **self._callbacks(kind))
            self.reflectors[kind.name] = r
            r.start()
        log.info("cluster exporter watching", extra={"kubernetes.resources": [k.name for k in self.kinds],
                                                      "shard": self.config.shard, "total_shards": self.config.total_shards})

    async def stop(self) -> None:
        """Stop every watch and close the connection."""
        for r in self.reflectors.values():
            await r.stop()
        if self.client is not None:
            await self.client.close()

    def readiness(self) -> tuple[bool, str]:
        """Ready once every resource has been listed."""
        waiting = [name for name, r in self.reflectors.items() if not r.synced.is_set()]
        if not self.reflectors:
            return False, "not started"
        if waiting:
            return False, f"waiting for the first list of {', '.join(waiting)}"
        return True, "ok"

    def exposition_parts(self, openmetrics: bool) -> list[bytes]:
        """The families' pre-joined pieces, within the scrape timeout Prometheus announced (the kit writes them)."""
        timeout = scrape_timeout.get()
        deadline = time.monotonic() + max(timeout - SCRAPE_MARGIN_SECONDS, 0.1) if timeout else None
        return self.store.parts(openmetrics, deadline)

    def exposition(self, openmetrics: bool) -> bytes:
        """The families as one text."""
        return b"".join(self.exposition_parts(openmetrics))

    async def wait_synced(self, within: float) -> bool:
        """True once every reflector has its first list (for tests and benchmarks)."""
        for r in self.reflectors.values():
            if not await r.wait_synced(within):
                return False
        return True


class _ReflectorCollector(Collector):
    """The exporter's own watch health, read from the reflectors at scrape time."""

    def __init__(self, service: ClusterService) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily("observe_exporter_watch_events", "Watch events received, by resource and type.",
                                     labels=["resource", "type"])
        relists = CounterMetricFamily("observe_exporter_relists", "Full relists after a 410 Gone (too old "
                                      "resourceVersion), by resource.", labels=["resource"])
        objects = GaugeMetricFamily("observe_exporter_objects", "Objects of this shard in the cache, by resource.",
                                    labels=["resource"])
        up = GaugeMetricFamily("observe_exporter_kube_api_up", "1 when the last call to the Kubernetes API "
                               "succeeded, by resource.", labels=["resource"])
        object_errors = CounterMetricFamily("observe_exporter_object_errors", "Objects left out because rendering "
                                            "them raised (a bug; the error log names the object), by resource.",
                                            labels=["resource"])
        stale = CounterMetricFamily("observe_exporter_stale_family_serves", "Families served from their previous "
                                    "join because the scrape timeout was near.")
        # kube-state-metrics' own names, which the kubernetes-mixin's KubeStateMetrics* alerts query.
        lists = CounterMetricFamily("kube_state_metrics_list", "Number of total resource list in kube-state-metrics",
                                    labels=["resource", "result"])
        watches = CounterMetricFamily("kube_state_metrics_watch", "Number of total resource watches in "
                                      "kube-state-metrics", labels=["resource", "result"])
        cfg = self.service.config
        ordinal = GaugeMetricFamily("kube_state_metrics_shard_ordinal", "Current sharding ordinal/index of this "
                                    "instance", labels=["shard_ordinal"])
        ordinal.add_metric([str(cfg.shard)], cfg.shard)
        total = GaugeMetricFamily("kube_state_metrics_total_shards", "Number of total shards this instance is aware of")
        total.add_metric([], cfg.total_shards)
        store = self.service.store
        for kind in self.service.kinds:
            r = self.service.reflectors.get(kind.name)
            if r is None:
                continue
            for event, n in r.events.items():
                events.add_metric([kind.name, event], n)
            relists.add_metric([kind.name], r.relists)
            object_errors.add_metric([kind.name], r.object_errors)
            objects.add_metric([kind.name], store.objects(kind.families))
            up.add_metric([kind.name], 1 if r.up else 0)
            go_type = GO_TYPES.get(kind.name, kind.name)
            for (op, result), n in r.calls.items():
                (lists if op == "list" else watches).add_metric([go_type, result], n)
        stale.add_metric([], self.service.store.stale_serves)
        yield from (events, relists, objects, up, object_errors, stale, lists, watches, ordinal, total)

    def describe(self) -> Iterator[Metric]:
        return iter(())
