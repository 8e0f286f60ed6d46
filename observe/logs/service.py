"""`build_service`: the log shipper as a service of the kit."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from observe.config import Config
from observe.logs.context import MetadataProvider
from observe.logs.metrics import ShipperMetrics
from observe.logs.shipper import Shipper
from observe.logs.sink import NullSink, Sink, SpoolSink
from observe.service import BaseService


def make_sink(config: Config, metrics: ShipperMetrics) -> Sink:
    """The configured sink; `auto` is Elasticsearch/OpenSearch when a URL is set, else the spool."""
    kind = config.logs.sink
    if kind == "auto":
        kind = "elasticsearch" if config.elasticsearch.url else "spool"
    if kind == "null":
        return NullSink(metrics)
    if kind == "spool":
        return SpoolSink(config.logs.spool_dir, metrics)
    from observe.logs.bulk import BulkSink

    return BulkSink(config.elasticsearch, config.logs, metrics)


class ShipperService(BaseService):
    """Tails the configured files and ships them exactly once."""

    name = "shipper"

    def __init__(self, config: Config, registry: CollectorRegistry, provider: MetadataProvider | None = None) -> None:
        self.metrics = ShipperMetrics(registry)
        self.sink = make_sink(config, self.metrics)
        self.shipper = Shipper(config.logs, self.sink, self.metrics, provider=provider,
                               node_name=config.kube.node_name)

    async def start(self) -> None:
        await self.shipper.start()

    async def stop(self) -> None:
        await self.shipper.stop()

    def readiness(self) -> tuple[bool, str]:
        return self.sink.ready()


def build_service(config: Config, registry: CollectorRegistry) -> ShipperService:
    """The shipper service for the kit."""
    return ShipperService(config, registry)
