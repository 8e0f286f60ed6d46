"""The Sink protocol and the final outcome of one event."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from observe.logs.batch import Batch


class Outcome(StrEnum):
    """What `send` did with one event: a final outcome, or RETRY (the shipper sends the event again)."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # already in the index (409 on create): a replay, counted as success
    DEADLETTERED = "deadlettered"
    DROPPED = "dropped"  # the dead-letter stream refused it too; counted with a reason
    RETRY = "retry"  # no final outcome yet: the shipper sends it again, with backoff


class Sink(Protocol):
    """A destination for bulk batches."""

    name: str

    async def start(self) -> None:
        """Prepare the destination (may keep retrying in the background; `ready` tells)."""
        ...

    def ready(self) -> tuple[bool, str]:
        """(ready, reason)."""
        ...

    async def prepare(self, data_stream: str) -> None:
        """A file's plan names `data_stream`: get it ready before its first event (index templates)."""
        ...

    async def send(self, batch: Batch) -> list[Outcome]:
        """Deliver the items; return each one's outcome, in order (RETRY: send it again).

        An exception is a fault of the sink, not of the events: the shipper logs and counts it, and sends the batch
        again with backoff.
        """
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
