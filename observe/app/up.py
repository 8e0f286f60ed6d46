"""`observe up`: every service in one process on this machine, on embedded defaults.

Each part is planned from the config and what this machine has (a log folder, a kubeconfig, an
Elasticsearch URL, a Jaeger URL). Parts that cannot run here are listed with the reason, never hidden.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from observe.app.config import Config
from observe.app.services import CLUSTER, ELASTICSEARCH, PROBE, SHIPPER, TRACES
from observe.config import ConfigError
from observe.ecs_logging import setup_logging
from observe.service import Service, ServiceHost
from observe.tracing import setup_tracing

log = logging.getLogger("observe.up")

DEFAULT_LOGS = Path("/var/log/containers")


@dataclass
class Part:
    """One row of the plan: a part of the suite, the service that runs it (None: off), and where or why."""

    name: str
    service: Service | None
    where: str
    routes: tuple[str, ...] = ()
    done: bool = False  # a one-shot part that ran (render)


def _logs_part(config: Config, registry: CollectorRegistry, logs_dir: Path | None) -> tuple[Config, Part]:
    if logs_dir is None and "paths" not in config.logs.model_fields_set:
        if not DEFAULT_LOGS.is_dir():
            return config, Part(SHIPPER.title, None, f"no --logs DIR given and {DEFAULT_LOGS} does not exist")
        logs_dir = DEFAULT_LOGS
    if logs_dir is not None:
        if not logs_dir.is_dir():
            raise ConfigError(f"--logs: got {str(logs_dir)!r}, expected a folder of container log files")
        if not any(logs_dir.glob("*.log")) and (logs_dir / "containers").is_dir():
            logs_dir = logs_dir / "containers"  # `--logs /var/log` means its containers/ folder
        logs = config.logs.model_copy(update={"paths": [str(logs_dir / "*.log")]})
        config = config.model_copy(update={"logs": logs})
    service = SHIPPER.build(config, registry)
    from observe.logs.service import sink_kind

    target = {
        "elasticsearch": f"to {', '.join(config.elasticsearch.nodes())} ({config.logs.data_stream})",
        "spool": f"to the spool {config.logs.spool_dir}/ (no elasticsearch.url; `observe ship --replay` delivers it)",
        "null": "to nowhere (logs.sink=null)",
    }[sink_kind(config.logs, config.elasticsearch)]
    where = f"{', '.join(config.logs.paths)} {target}; checkpoints in {config.logs.checkpoint_path}"
    return config, Part(SHIPPER.title, service, where)


def _cluster_part(config: Config, registry: CollectorRegistry) -> Part:
    if not config.exporters.cluster.enabled:
        return Part(CLUSTER.title, None, "exporters.cluster.enabled is false")
    from observe.kube.client import KubeConfigError, credential_source

    try:
        source = credential_source(config.kube.kubeconfig)
    except KubeConfigError as exc:
        return Part(CLUSTER.title, None, str(exc))
    service = CLUSTER.build(config, registry)
    return Part(CLUSTER.title, service, f"kube_* from {source or 'the in-cluster service account'}")


def _probe_part(config: Config, registry: CollectorRegistry) -> Part:
    probe = config.exporters.probe
    if not probe.enabled:
        return Part(PROBE.title, None, "exporters.probe.enabled is false")
    service = PROBE.build(config, registry)
    allowed = [*probe.allow_hosts, *probe.allow_cidrs, *(f"*{s}" for s in probe.allow_dns_suffixes)]
    where = f"probes only {', '.join(allowed) or 'nothing (empty allowlist)'}"
    return Part(PROBE.title, service, where, ("/probe?target=&module=", "/targets"))


def _elasticsearch_part(config: Config, registry: CollectorRegistry) -> Part:
    if not config.exporters.elasticsearch.enabled:
        return Part(ELASTICSEARCH.title, None, "exporters.elasticsearch.enabled is false")
    if not config.elasticsearch.nodes():
        return Part(ELASTICSEARCH.title, None, "no elasticsearch.url configured")
    service = ELASTICSEARCH.build(config, registry)
    return Part(ELASTICSEARCH.title, service, f"watches {', '.join(config.elasticsearch.nodes())}")


def _traces_part(config: Config, registry: CollectorRegistry) -> Part:
    if not config.traces.jaeger_url:
        return Part(TRACES.title, None, "no traces.jaeger_url configured")
    service = TRACES.build(config, registry)
    return Part(TRACES.title, service, f"pulls {config.traces.jaeger_url}", ("/graph",))


def render_here(config: Config) -> Part:
    """Render dashboards, rules and the Alertmanager config into render.out_dir (a one-shot, not a service)."""
    from observe.render.renderer import render, templates_root, write

    root = templates_root()
    if not (root / "dashboards").is_dir() or not (root / "alerts").is_dir():
        return Part("render", None, f"no dashboards/ and alerts/ templates next to the package ({root})")
    outputs = render(config.render.values, root)
    write(outputs, config.render.out_dir)
    return Part("render", None, f"wrote {len(outputs)} files to {config.render.out_dir}/", done=True)


def plan_services(
    config: Config, registry: CollectorRegistry, logs_dir: Path | None
) -> list[tuple[str, Service | None, str]]:
    """(name, service or None, where it runs or why it is off) for every long-running part of the suite."""
    return [(p.name, p.service, p.where) for p in plan_parts(config, registry, logs_dir)]


def plan_parts(config: Config, registry: CollectorRegistry, logs_dir: Path | None) -> list[Part]:
    """Every part, in the order of the table."""
    config, logs = _logs_part(config, registry, logs_dir)
    parts = [logs]
    for spec, planner in ((CLUSTER, _cluster_part), (PROBE, _probe_part), (ELASTICSEARCH, _elasticsearch_part),
                          (TRACES, _traces_part)):
        try:
            parts.append(planner(config, registry))
        except ImportError as exc:  # a component missing from this installation: say so, run the rest
            parts.append(Part(spec.title, None, f"not installed: {exc}"))
    return parts


def table(parts: list[Part], base: str) -> Table:
    """The table printed at start: what runs, where, and what is off and why."""
    out = Table(title="observe up", title_justify="left")
    out.add_column("part")
    out.add_column("state")
    out.add_column("where / why", overflow="fold")
    out.add_row("http", "[green]on[/]", f"{base}/metrics  {base}/healthz  {base}/readyz")
    for part in parts:
        on = part.service is not None or part.done
        where = part.where
        if part.service is not None and part.routes:
            where += "  " + "  ".join(f"{base}{r}" for r in part.routes)
        out.add_row(part.name, "[green]on[/]" if on else "[yellow]off[/]", where)
    return out


def run_up(config: Config, logs_dir: Path | None = None) -> int:
    """Start what can run here, print a table of it, and serve until Ctrl-C (exit 0 after a clean drain)."""
    setup_logging(config.service.log_level, "observe-up")
    setup_tracing(config.service.otlp_endpoint, "observe-up")
    registry = CollectorRegistry()
    try:
        parts = [*plan_parts(config, registry, logs_dir), render_here(config)]
    except ConfigError as exc:
        Console(stderr=True).print(f"observe: {exc}", markup=False)
        return 2
    host = ServiceHost(config.service, [p.service for p in parts if p.service is not None], registry)

    async def main() -> int:
        serving = asyncio.create_task(host.serve())
        started = asyncio.create_task(host.started.wait())
        await asyncio.wait([serving, started], return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            started.cancel()
            return serving.result()
        base = f"http://{config.service.host}:{host.port}"
        Console(stderr=True, width=160).print(table(parts, base))
        Console(stderr=True).print("Ctrl-C stops every part; checkpoints are kept, so the next run resumes.")
        return await serving

    return asyncio.run(main())
