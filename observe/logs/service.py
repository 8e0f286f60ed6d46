"""The log shipper as a service of the kit: its sink, its metadata provider, its pipeline."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import CollectorRegistry

from observe.config import ConfigError, ElasticsearchConfig, KubeConfig
from observe.durable_file import SymlinkRefused, refuse_symlink
from observe.logs.config import LogsConfig
from observe.logs.enrich import KubeEnricher
from observe.logs.metrics import ShipperMetrics
from observe.logs.plan import MetadataProvider
from observe.logs.shipper import Shipper
from observe.logs.sinks.null import NullSink
from observe.logs.sinks.protocol import Sink
from observe.logs.sinks.spool import SpoolSink
from observe.service import BaseService


def refuse_symlinked_state(logs: LogsConfig, es: ElasticsearchConfig) -> None:
    """Raise ConfigError when the checkpoint or the spool folder is a symlink (whoever planted it picks what we write)."""
    checks = [("logs.checkpoint_path", logs.checkpoint_path)]
    if sink_kind(logs, es) == "spool":
        checks.append(("logs.spool_dir", logs.spool_dir))
    for key, path in checks:
        try:
            refuse_symlink(path)
        except SymlinkRefused:
            raise ConfigError(f"{key}: got {str(path)!r}, which is a symlink; expected a real path "
                              "(observe never follows a symlink for its state files)") from None


def sink_kind(logs: LogsConfig, es: ElasticsearchConfig) -> str:
    """The sink that runs: `auto` is Elasticsearch/OpenSearch when a URL is set, else the spool."""
    if logs.sink == "auto":
        return "elasticsearch" if es.nodes() else "spool"
    return logs.sink


def make_sink(logs: LogsConfig, es: ElasticsearchConfig, metrics: ShipperMetrics) -> Sink:
    """The configured sink."""
    kind = sink_kind(logs, es)
    if kind == "null":
        return NullSink(metrics)
    if kind == "spool":
        return SpoolSink(logs.spool_dir, metrics)
    if not es.nodes():
        raise ConfigError("elasticsearch.urls: got nothing, expected the base URL of at least one Elasticsearch/"
                          "OpenSearch node (elasticsearch.url or elasticsearch.urls), since logs.sink is elasticsearch")
    from observe.logs.sinks.elasticsearch.config import SinkConfig
    from observe.logs.sinks.elasticsearch.sink import ElasticsearchSink

    return ElasticsearchSink(SinkConfig(es, logs), metrics)


def make_provider(logs: LogsConfig, kube: KubeConfig, registry: CollectorRegistry, sink: Sink) -> KubeEnricher:
    """Pod metadata and per-pod config from the Kubernetes API (off when `auto` finds no credentials)."""
    from observe.kube.client import KubeClient, KubeConfigError, credential_source

    k = logs.kubernetes
    factory: Callable[[], Awaitable[KubeClient]] | None = None
    if k.enabled != "off":
        try:
            credential_source(kube.kubeconfig)
            found = True
        except KubeConfigError:
            found = k.enabled == "on"  # `on` without credentials: not ready, and says why
        if found:
            async def factory() -> KubeClient:
                return await KubeClient.from_config(kube)
    return KubeEnricher(
        factory, registry, node_name=kube.node_name, kubelet_root=k.kubelet_root,
        deleted_grace_seconds=k.deleted_pod_grace_seconds, resolve_wait_seconds=k.resolve_wait_seconds,
        default_multiline=logs.multiline.mode, default_parser=logs.parser, streams=sink,
    )


class ShipperService(BaseService):
    """Tails the configured files and ships them exactly once."""

    name = "shipper"

    def __init__(self, logs: LogsConfig, es: ElasticsearchConfig, kube: KubeConfig, registry: CollectorRegistry,
                 provider: MetadataProvider | None = None) -> None:
        refuse_symlinked_state(logs, es)
        self.metrics = ShipperMetrics(registry)
        self.sink = make_sink(logs, es, self.metrics)
        self.enricher = make_provider(logs, kube, registry, self.sink) if provider is None else None
        self.shipper = Shipper(logs, self.sink, self.metrics, provider=provider or self.enricher,
                               node_name=kube.node_name)

    async def start(self) -> None:
        if self.enricher is not None:
            await self.enricher.start()
        await self.shipper.start()

    async def stop(self) -> None:
        try:
            await self.shipper.stop()
        finally:
            if self.enricher is not None:
                await self.enricher.stop()

    def readiness(self) -> tuple[bool, str]:
        ok, reason = self.sink.ready()
        pipeline_ok, why = self.shipper.ready()
        if not pipeline_ok:
            ok, reason = False, why
        if self.enricher is None:
            return ok, reason
        kube_ok, kube_reason = self.enricher.readiness()
        return ok and kube_ok, f"{reason}; {kube_reason}"
