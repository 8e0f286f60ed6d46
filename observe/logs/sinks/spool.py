"""The spool sink: each batch's exact bulk body in a file, for a later exactly-once replay."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from observe.durable_file import private_dir, write_atomic
from observe.logs.batch import Batch
from observe.logs.metrics import ShipperMetrics
from observe.logs.sinks.protocol import Outcome

log = logging.getLogger("observe.logs.sink")


class SpoolSink:
    """Writes each batch's exact bulk body to a file in `folder` (durably).

    The bodies carry deterministic `_id`s and `op_type=create`, so replaying a file twice adds nothing.
    """

    name = "spool"

    def __init__(self, folder: Path, metrics: ShipperMetrics) -> None:
        self.folder = folder
        self._delivered = metrics.events_acked.labels("delivered")
        self._seq = 0

    async def start(self) -> None:
        await asyncio.to_thread(private_dir, self.folder)

    def ready(self) -> tuple[bool, str]:
        return True, f"spooling to {self.folder}"

    async def prepare(self, data_stream: str) -> None:
        return None  # the replay's sink installs templates

    def _write(self, body: bytes, name: str) -> None:
        write_atomic(self.folder / name, body)

    async def send(self, batch: Batch) -> list[Outcome]:
        self._seq += 1
        name = f"{time.time_ns():020d}-{self._seq:08d}.ndjson"
        body = batch.body()
        while True:
            try:
                await asyncio.to_thread(self._write, body, name)
                break
            except OSError as exc:
                # A full or broken disk: hold the pipeline (backpressure) rather than ack what is not stored.
                log.error("cannot write the spool; retrying", extra={"file.path": str(self.folder), "error.message": str(exc)})
                await asyncio.sleep(1.0)
        self._delivered.inc(batch.count)
        return [Outcome.DELIVERED] * batch.count

    async def close(self) -> None:
        return None


def spool_files(folder: Path) -> list[Path]:
    """The spool's bulk files in the order they were written."""
    return sorted(p for p in folder.glob("*.ndjson") if p.is_file())
