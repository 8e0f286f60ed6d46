"""What the Elasticsearch sink is configured with: the connection and the log shipper's delivery settings."""

from __future__ import annotations

from dataclasses import dataclass

from observe.config import ElasticsearchConfig
from observe.logs.config import LogsConfig


@dataclass(frozen=True)
class SinkConfig:
    """The connection (`es`) and the shipper's settings (`logs`) the sink reads."""

    es: ElasticsearchConfig
    logs: LogsConfig

    @property
    def connections(self) -> int:
        """Connections to keep: one per bulk request in flight, and two for setup."""
        return self.logs.max_in_flight + 2
