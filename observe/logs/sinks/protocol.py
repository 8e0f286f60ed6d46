"""The Sink protocol and the final outcome of one event."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from observe.logs.batch import Batch


class Outcome(StrEnum):
    """The final outcome of one event (retries are not outcomes: a sink retries until it has one of these)."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # already in the index (409 on create): a replay, counted as success
    DEADLETTERED = "deadlettered"
    DROPPED = "dropped"  # the dead-letter stream refused it too; counted with a reason


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
        """Deliver every item, retrying as long as it takes; return each item's final outcome, in order."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
