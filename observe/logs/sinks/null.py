"""The null sink: acknowledges everything at once (benchmarks: the ceiling of read, decode and encode)."""

from __future__ import annotations

from observe.logs.batch import Batch
from observe.logs.metrics import ShipperMetrics
from observe.logs.sinks.protocol import Outcome


class NullSink:
    """Acknowledges everything at once."""

    name = "null"

    def __init__(self, metrics: ShipperMetrics) -> None:
        self._delivered = metrics.events_acked.labels("delivered")

    async def start(self) -> None:
        return None

    def ready(self) -> tuple[bool, str]:
        return True, "null sink"

    async def prepare(self, data_stream: str) -> None:
        return None

    async def send(self, batch: Batch) -> list[Outcome]:
        self._delivered.inc(batch.count)
        return [Outcome.DELIVERED] * batch.count

    async def close(self) -> None:
        return None
