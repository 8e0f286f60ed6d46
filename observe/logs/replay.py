"""`observe ship --replay DIR`: deliver a spool (written while no Elasticsearch was configured) exactly once.

The spool holds the exact bulk bodies the shipper would have sent: deterministic `_id`s written with
`op_type=create`. Replaying goes through the shipper's own bulk sink, so a 409 counts as already delivered,
429/5xx are retried, and mapping errors go to the dead-letter stream. A replayed file moves to DIR/replayed/;
a file interrupted half-way is replayed again next time, and its delivered half comes back as duplicates.
Every replayed `_id` is looked up across the data stream's backing indices first, so a replay after a rollover
adds nothing either (`observe_shipper_duplicates_avoided_total{reason="replay"}`).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
from prometheus_client import CollectorRegistry

from observe.config import ConfigError, ElasticsearchConfig
from observe.durable_file import private_dir
from observe.es_connection import HttpError
from observe.logs.config import LogsConfig
from observe.logs.metrics import ShipperMetrics
from observe.logs.sinks.elasticsearch.config import SinkConfig
from observe.logs.sinks.elasticsearch.sink import ElasticsearchSink
from observe.logs.sinks.spool import spool_files

DONE = "replayed"
OUTCOMES = ("delivered", "duplicate", "deadlettered")


@dataclass
class ReplayResult:
    """What one replay did."""

    files: int
    outcomes: dict[str, int]


def bulk_items(body: bytes, source: Path) -> list[bytes]:
    """The items (action line plus document line) of one spooled bulk body."""
    lines = body.splitlines(keepends=True)
    if len(lines) % 2:
        raise ValueError(f"{source}: {len(lines)} lines; a bulk body has an action and a document per event")
    return [lines[i] + lines[i + 1] for i in range(0, len(lines), 2)]


def _index_of(item: bytes) -> str:
    action = orjson.loads(item[: item.index(b"\n")])
    return str(next(iter(action.values()))["_index"])


def _move_done(path: Path) -> None:
    done = path.parent / DONE
    private_dir(done)
    os.replace(path, done / path.name)


async def replay(es: ElasticsearchConfig, logs: LogsConfig, folder: Path,
                 registry: CollectorRegistry | None = None) -> ReplayResult:
    """Deliver every spool file in `folder` to elasticsearch.url (or urls), oldest first."""
    if not es.nodes():
        raise ConfigError("elasticsearch.url: got nothing, expected the Elasticsearch/OpenSearch URL (or elasticsearch.urls) "
                          "to replay the spool to")
    registry = registry or CollectorRegistry()
    sink = ElasticsearchSink(SinkConfig(es, logs), ShipperMetrics(registry))
    files = 0
    outcomes = dict.fromkeys(OUTCOMES, 0)
    try:
        await sink.setup()
        for path in spool_files(folder):
            items = bulk_items(await asyncio.to_thread(path.read_bytes), path)
            for stream in sorted({_index_of(item) for item in items} - {logs.data_stream}):
                await sink.prepare(stream)  # a data stream a pod chose by annotation
            for outcome in await sink.deliver_items(items):
                outcomes[outcome.value] = outcomes.get(outcome.value, 0) + 1
            await asyncio.to_thread(_move_done, path)
            files += 1
    finally:
        await sink.close()
    return ReplayResult(files, outcomes)


def run_replay(es: ElasticsearchConfig, logs: LogsConfig, folder: Path) -> int:
    """The CLI's exit code: 0 delivered (or already there), 1 unreachable or refused, 2 misconfigured."""
    import click

    try:
        result = asyncio.run(replay(es, logs, folder))
    except ConfigError as exc:
        click.echo(f"observe: {exc}", err=True)
        return 2
    except (aiohttp.ClientError, OSError, TimeoutError, HttpError, ValueError) as exc:
        click.echo(f"observe ship --replay: {exc or type(exc).__name__}", err=True)
        return 1
    counts = ", ".join(f"{n} {o}" for o, n in result.outcomes.items())
    click.echo(f"replayed {result.files} spool files from {folder} to {', '.join(es.nodes())}: {counts}")
    return 0
