"""CLI commands of the log pipeline: `observe ship` and `observe logs ...`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from observe.cli import config_option


@click.command("ship")
@config_option
def ship(config_path: Path | None) -> None:
    """Run the log shipper: tail the configured files and deliver every line exactly once."""
    from prometheus_client import CollectorRegistry

    from observe.cli import config_or_exit
    from observe.ecs_logging import setup_logging
    from observe.logs.service import build_service
    from observe.service import ServiceHost
    from observe.tracing import setup_tracing

    cfg = config_or_exit(config_path)
    setup_logging(cfg.service.log_level, "observe-shipper")
    setup_tracing(cfg.service.otlp_endpoint, "observe-shipper")
    registry = CollectorRegistry()
    svc = build_service(cfg, registry)
    sys.exit(asyncio.run(ServiceHost(cfg.service, [svc], registry).serve()))


@click.group("logs")
def logs() -> None:
    """Offline tools for log files."""


@logs.command("parse")
@click.option("--format", "fmt", type=click.Choice(["auto", "cri", "docker", "plain"]), default="auto",
              show_default=True, help="Line format of the files.")
@click.option("--max-event-bytes", type=int, default=1024 * 1024, show_default=True, help="Longest event before truncation.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def parse(fmt: str, max_event_bytes: int, files: tuple[Path, ...]) -> None:
    """Print, one JSON object per line, exactly the documents FILES would be shipped as."""
    from observe.logs.parse import parse_file

    out = sys.stdout.buffer
    for path in files:
        for doc in parse_file(path, fmt=fmt, max_event_bytes=max_event_bytes):
            out.write(doc)
            out.write(b"\n")
    out.flush()


commands: list[click.Command] = [ship, logs]
