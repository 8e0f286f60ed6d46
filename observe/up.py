"""`observe up`: every service in one process on this machine, on embedded defaults."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from observe.config import Config
from observe.ecs_logging import setup_logging
from observe.service import Service, ServiceHost
from observe.tracing import setup_tracing


def plan_services(
    config: Config, registry: CollectorRegistry, logs_dir: Path | None
) -> list[tuple[str, Service | None, str]]:
    """(name, service or None, where it runs or why it is off) for every part of the suite."""
    return []


def run_up(config: Config, logs_dir: Path | None = None) -> int:
    """Start what can run here, print a table of it, and serve until Ctrl-C."""
    setup_logging(config.service.log_level, "observe-up")
    setup_tracing(config.service.otlp_endpoint, "observe-up")
    registry = CollectorRegistry()
    planned = plan_services(config, registry, logs_dir)
    services = [svc for _, svc, _ in planned if svc is not None]
    host = ServiceHost(config.service, services, registry)

    async def main() -> int:
        loop_task = asyncio.create_task(host.serve())
        started = asyncio.create_task(host.started.wait())
        await asyncio.wait([loop_task, started], return_when=asyncio.FIRST_COMPLETED)
        if loop_task.done():
            started.cancel()
            return loop_task.result()
        base = f"http://{config.service.host}:{host.port}"
        table = Table(title="observe up")
        table.add_column("part")
        table.add_column("state")
        table.add_column("where / why")
        table.add_row("kit", "[green]on[/]", f"{base}/metrics  {base}/healthz  {base}/readyz")
        for name, svc, where in planned:
            table.add_row(name, "[green]on[/]" if svc is not None else "[yellow]off[/]", where)
        Console(stderr=True).print(table)
        return await loop_task

    return asyncio.run(main())
