"""CLI commands of the trace puller: `observe traces pull` and `observe traces analyze`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from observe.app.options import config_option


@click.group("traces")
def traces() -> None:
    """Service graph and RED metrics from Jaeger traces."""


@traces.command("pull")
@config_option
def pull(config_path: Path | None) -> None:
    """Run the trace puller service (`traces`): pull from Jaeger, serve /metrics and /graph."""
    import asyncio

    from prometheus_client import CollectorRegistry

    from observe.app.options import config_or_exit
    from observe.app.services import TRACES
    from observe.ecs_logging import setup_logging
    from observe.service import ServiceHost
    from observe.tracing import setup_tracing

    cfg = config_or_exit(config_path)
    if not cfg.traces.jaeger_url:
        click.echo("observe: traces.jaeger_url is empty; expected the Jaeger query base URL, "
                   "e.g. http://jaeger-query:16686", err=True)
        sys.exit(2)
    setup_logging(cfg.service.log_level, "traces")
    setup_tracing(cfg.service.otlp_endpoint, TRACES.process)
    registry = CollectorRegistry()
    svc = TRACES.build(cfg, registry)
    sys.exit(asyncio.run(ServiceHost(cfg.service, [svc], registry).serve()))


@traces.command("analyze")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--sampling-rate", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True,
              help="Fraction of requests traced, when spans do not carry sampler tags.")
def analyze(file: Path, sampling_rate: float) -> None:
    """Print the service graph of a Jaeger JSON export ({"data": [trace, ...]}) as one JSON object."""
    import msgspec
    import orjson

    from observe.traces.analyze import analyze as run

    rejected: dict[str, int] = {}
    try:
        report = run(file.read_bytes(), sampling_rate, rejected)
    except msgspec.DecodeError as exc:
        click.echo(f"observe: {file} is not a Jaeger JSON export ({{\"data\": [trace, ...]}} of /api/traces): {exc}",
                   err=True)
        sys.exit(2)
    except OSError as exc:
        click.echo(f"observe: cannot read {file}: {exc.strerror}", err=True)
        sys.exit(2)
    for reason, count in sorted(rejected.items()):
        what = "spans' sampler.param ignored" if reason == "sampler_param_out_of_range" else "traces skipped"
        click.echo(f"observe: {count} {what} ({reason})", err=True)
    click.echo(orjson.dumps(report).decode())


commands: list[click.Command] = [traces]
