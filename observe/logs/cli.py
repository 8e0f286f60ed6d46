"""CLI commands of the log pipeline: `observe ship` and `observe logs ...`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from observe.app.options import config_option


@click.command("ship")
@config_option
@click.option("--replay", "replay_dir", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              help="Deliver a spool folder (e.g. what `observe up` wrote) to elasticsearch.url exactly once, then exit.")
def ship(config_path: Path | None, replay_dir: Path | None) -> None:
    """Run the log shipper: tail the configured files and deliver every line exactly once."""
    from prometheus_client import CollectorRegistry

    from observe.app.options import config_or_exit
    from observe.app.services import SHIPPER
    from observe.config import ConfigError
    from observe.ecs_logging import setup_logging
    from observe.service import ServiceHost, exit_process, tune_collector
    from observe.tracing import setup_tracing

    cfg = config_or_exit(config_path)
    if replay_dir is not None:
        from observe.logs.replay import run_replay

        sys.exit(run_replay(cfg.elasticsearch, cfg.logs, replay_dir))
    setup_logging(cfg.service.log_level, SHIPPER.process)
    setup_tracing(cfg.service.otlp_endpoint, SHIPPER.process)
    registry = CollectorRegistry()
    try:
        svc = SHIPPER.build(cfg, registry)
    except ConfigError as exc:
        click.echo(f"observe: {exc}", err=True)
        sys.exit(2)
    host = ServiceHost(cfg.service, [svc], registry)
    tune_collector()
    exit_process(asyncio.run(host.serve()))


def _multiline_spec(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from observe.logs.multiline import MultilineSpecError, rule_for

    try:
        rule_for(value)
    except MultilineSpecError as exc:
        raise click.BadParameter(f"got {value!r}, expected {exc}") from None
    return value


def _parser_spec(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from observe.logs.parsers import ParserSpecError, parser_for

    try:
        parser_for(value)
    except ParserSpecError as exc:
        raise click.BadParameter(f"got {value!r}, expected {exc}") from None
    return value


def _max_event_bytes(ctx: click.Context, param: click.Parameter, value: int) -> int:
    from observe.logs.config import MIN_EVENT_BYTES

    if value < MIN_EVENT_BYTES:
        raise click.BadParameter(f"got {value}, expected at least {MIN_EVENT_BYTES} bytes (as logs.max_event_bytes)")
    return value


@click.group("logs")
def logs() -> None:
    """Offline tools for log files."""


@logs.command("parse")
@click.option("--format", "fmt", type=click.Choice(["auto", "cri", "docker", "plain"]), default="auto",
              show_default=True, help="Line format of the files.")
@click.option("--max-event-bytes", type=int, default=1024 * 1024, show_default=True, callback=_max_event_bytes,
              help="Longest event; longer ones are cut at exactly this many bytes and flagged truncated (at least 1024).")
@click.option("--multiline", default="none", show_default=True, callback=_multiline_spec,
              help="Merge multiline events: none|auto|java|javascript|csharp|python|go|ruby|php|dart|regex:<start pattern>.")
@click.option("--parser", default="none", show_default=True, callback=_parser_spec,
              help="Parse messages: json|nginx|regex:<pattern with named groups>|none.")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def parse(fmt: str, max_event_bytes: int, multiline: str, parser: str, files: tuple[Path, ...]) -> None:
    """Print, one JSON object per line, exactly the documents FILES would be shipped as."""
    import os
    import socket

    from observe.logs.plan import NO_PROCESSING, Settings, path_plan
    from observe.logs.preview import parse_file

    out = sys.stdout.buffer
    settings = Settings(multiline=multiline, parser=parser)
    if settings == NO_PROCESSING:
        settings = NO_PROCESSING
    for path in files:
        plan = path_plan(str(path), os.path.realpath(path), host_name=socket.gethostname(), node_name=None, fmt=fmt,
                         settings=settings)
        for doc in parse_file(path, fmt=fmt, max_event_bytes=max_event_bytes, plan=plan):
            out.write(doc)
            out.write(b"\n")
    out.flush()


def _kibana() -> click.Group:
    from observe.logs.kibana import kibana_group

    return kibana_group


commands: list[click.Command] = [ship, logs, _kibana()]
