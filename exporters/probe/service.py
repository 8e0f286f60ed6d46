"""The probe exporter service: /probe, /targets, and its own refusal counter."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from exporters.config import ProbeExporterConfig
from exporters.probe import discovery, prober
from exporters.probe.allowlist import TargetPolicy
from observe.config import KubeConfig
from observe.config_input import clip, echo
from observe.kube import KubeClient, KubeConfigError, Reflector, Resource
from observe.kube.reflector import SERVICES
from observe.service import BaseService

log = logging.getLogger("observe.exporters.probe")

INGRESSES = Resource("networking.k8s.io", "v1", "ingresses")
# blackbox_exporter's default: answer half a second before Prometheus gives up on the scrape.
TIMEOUT_OFFSET_SECONDS = 0.5


class ProbeService(BaseService):
    """Runs one probe per /probe request, never towards a target outside the allowlist."""

    name = "probe-exporter"

    def __init__(self, config: ProbeExporterConfig, kube: KubeConfig, registry: CollectorRegistry,
                 client: KubeClient | None = None) -> None:
        self.config = config
        self.kube = kube
        self.client = client
        self.policy = TargetPolicy(config.allow_hosts, config.allow_cidrs, config.allow_dns_suffixes,
                                   config.allow_ports, self.discovered_ports)
        self.refused = Counter("observe_probe_refused", "Probe requests refused, by reason (not_allowlisted, "
                               "port_not_allowed, unresolvable, bad_target, unknown_module).", ["reason"],
                               registry=registry)
        self.failures = Counter("observe_probe_failures", "Probes that ran and failed, by reason (timeout, connect, "
                                "tls, http, body_too_large, too_many_headers, headers_too_large, line_too_long, "
                                "bad_chunk, status).", ["reason"], registry=registry)
        self.probes = Counter("observe_probe_requests", "Probes run, by module and outcome.",
                              ["module", "outcome"], registry=registry)
        self.reflectors: list[Reflector[list[dict[str, Any]]]] = []
        self.discovery_error = ""

    def discovered_ports(self) -> set[int]:
        """The ports of the targets discovery serves on /targets (they may be probed besides allow_ports)."""
        ports: set[int] = set()
        for r in self.reflectors:
            for _, groups in r.store.items():
                for group in groups:
                    ports.update(discovery.target_port(t) for t in group["targets"])
        ports.discard(0)
        return ports

    async def start(self) -> None:
        """Start discovery when enabled and the Kubernetes API is configured."""
        if not self.config.discovery:
            return
        try:
            if self.client is None:
                self.client = await KubeClient.from_config(self.kube)
        except KubeConfigError as exc:
            self.discovery_error = str(exc)
            log.warning("probe discovery disabled: no Kubernetes API", extra={"error.message": str(exc)})
            return
        default = self.config.default_module
        self.reflectors = [
            Reflector(self.client, SERVICES, transform=lambda o: discovery.service_targets(o, default)),
            Reflector(self.client, INGRESSES, transform=lambda o: discovery.ingress_targets(o, default)),
        ]
        for r in self.reflectors:
            r.start()

    async def stop(self) -> None:
        """Stop discovery."""
        for r in self.reflectors:
            await r.stop()
        if self.client is not None:
            await self.client.close()

    def routes(self) -> Sequence[web.AbstractRouteDef]:
        """/probe and /targets."""
        return [web.get("/probe", self.handle_probe), web.get("/targets", self.handle_targets)]

    def _refuse(self, reason: str, status: int, detail: str) -> web.Response:
        self.refused.labels(reason).inc()
        log.warning("probe refused", extra={"event.reason": reason, "error.message": detail})
        return web.Response(status=status, text=f"probe refused ({reason}): {detail}\n")

    async def handle_probe(self, request: web.Request) -> web.Response:
        """GET /probe?target=&module=: run the probe and answer with its metrics."""
        target = request.query.get("target", "")
        module_name = request.query.get("module") or self.config.default_module
        module = self.config.modules.get(module_name)
        if module is None:
            return self._refuse("unknown_module", 400, f"module {echo(module_name)} is not configured")
        if not target:
            return self._refuse("bad_target", 400, "the target parameter is required")
        seconds = module.timeout_seconds
        header = request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
        if header:
            try:
                seconds = min(seconds, max(float(header) - TIMEOUT_OFFSET_SECONDS, 0.1))
            except ValueError:
                pass
        try:
            result = await prober.run(target, module, self.policy, seconds)
        except prober.Refused as exc:
            status = 400 if exc.reason == "bad_target" else 403
            return self._refuse(exc.reason, status, f"target {echo(target)} is outside the allowlist ({exc.reason})"
                                if status == 403 else f"target {echo(target)} is not valid for module {module_name}")
        self.probes.labels(module_name, "success" if result.success else "failure").inc()
        if not result.success:
            reason = result.reason or "status"
            self.failures.labels(reason).inc()
            log.info("probe failed", extra={"url.full": clip(target), "event.reason": reason,
                                            "error.message": clip(result.error or f"status {result.status_code}")})
        return web.Response(body=result.exposition(http=module.prober == "http"),
                            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    async def handle_targets(self, request: web.Request) -> web.Response:
        """GET /targets: http_sd groups for every annotated Service and Ingress."""
        if self.config.discovery and not self.reflectors:
            return web.Response(status=503, text=f"discovery unavailable: {self.discovery_error or 'not started'}\n")
        groups = [g for r in self.reflectors for _, gs in sorted(r.store.items()) for g in gs]
        return web.Response(body=orjson.dumps(groups), content_type="application/json")

    def readiness(self) -> tuple[bool, str]:
        """Ready at once; discovery, when on, must have listed once."""
        waiting = [r.name for r in self.reflectors if not r.synced.is_set()]
        return (False, f"waiting for the first list of {', '.join(waiting)}") if waiting else (True, "ok")
