"""The live stack for the dashboard and alert tests: our real exporters, shipper and trace puller as processes,
scraped by a real Prometheus that loads the rendered rules, with a real Alertmanager mailing a real SMTP sink."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from observe.render.renderer import render, write
from tests.integration.logs.shipper_process import ShipperProcess
from tests.integration.render.cluster_seed import seed
from tests.integration.traces.istio_mesh import Mesh, wait_for_spans
from tests.peers import alertmanager, prometheus
from tests.peers.base import Peer, free_port, http_ok, start_process, wait_ready
from tests.peers.smtp import SmtpSink

OBSERVE = str(Path(sys.executable).parent / "observe")
CRI_LINE = "2024-05-01T12:00:00.000000000Z stdout F {line}\n"


@dataclass
class Live:
    """Everything a live test needs: where things run and the names of the seeded objects."""

    prometheus: Peer
    alertmanager: Peer
    namespace: str
    names: dict[str, str]
    render_dir: Path
    shipper: ShipperProcess
    mesh: Mesh
    peers: list[Peer] = field(default_factory=list)


def _exporter(name: str, workdir: Path, args: list[str], config: dict[str, Any]) -> Peer:
    port = free_port()
    cfg = workdir / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({"service": {"host": "127.0.0.1", "port": port}, **config}))
    peer = start_process(name, [OBSERVE, *args, "--config", str(cfg)], workdir)
    peer.url = f"http://127.0.0.1:{port}"
    peer.ports["http"] = port
    return wait_ready(peer, lambda: http_ok(f"{peer.url}/metrics"), timeout=60)


def _values(workdir: Path, sink: SmtpSink, namespace: str) -> Path:
    """Test values: every `for:` and interval short, the seeded namespace owned by a team, mail to the sink."""
    values = {
        "platform": {"managed_control_plane": True, "kubelet": False, "node_exporter": False},
        "rules": {"for_override": "1s", "evaluation_interval": "1s"},
        "alertmanager": {
            "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h",
            "smtp": {"smarthost": sink.smarthost, "from": "alertmanager@observe.test", "auth_username": None,
                     "auth_password_file": None, "require_tls": False},
            "default_email": "oncall@observe.test", "critical_email": "oncall-critical@observe.test",
            "heartbeat": {"webhook_url": None, "email": "heartbeat@observe.test", "repeat_interval": "1h"},
            "teams": [{"name": "shop", "email": "shop-team@observe.test", "namespaces": [namespace]},
                      {"name": "platform", "email": "platform@observe.test", "namespaces": ["observe"]}],
        },
    }
    path = workdir / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def _write_logs(shipper: ShipperProcess, namespace: str) -> None:
    name = f"web-5d9c-a_{namespace}_app-{'b' * 64}.log"
    with (shipper.logs_dir / name).open("a") as f:
        for i in range(50):
            f.write(CRI_LINE.format(line=f'{{"level":"info","msg":"request {i}"}}'))


def _send_traces(mesh: Mesh, jaeger: Peer) -> None:
    """Bookinfo page views as Istio's sidecars trace them: every 4th fails at ratings, and one ratings server span
    never arrives (its client span becomes unpaired)."""
    t0 = time.time() - 30
    for i in range(12):
        fails = i % 4 == 0
        mesh.request(t0 + i * 0.05, ratings_ms=20 if fails else 8, ratings_status=503 if fails else 200)
    held = mesh.request(t0 + 1, hold_ratings_server=True)
    assert held is not None  # sent never
    mesh.flush()
    wait_for_spans(jaeger.url, mesh.name("istio-ingressgateway"), t0 - 1, time.time() + 1, 13 * 8 - 1)


def start_live(workdir: Path, kube: Peer, namespace: str, es: Peer, jaeger: Peer, sink: SmtpSink) -> Iterator[Live]:
    """Seed the cluster and Jaeger, start every exporter, the shipper, the trace puller, Prometheus and
    Alertmanager; stop them afterwards."""
    names = seed(kube, namespace)
    mesh = Mesh(str(jaeger.extra["otlp_http"]))
    _send_traces(mesh, jaeger)
    values = _values(workdir, sink, namespace)
    out = workdir / "render"
    write(render(values), out)
    rendered = yaml.safe_load(values.read_text())
    jobs = {"cluster": "observe-cluster-exporter", "es": "observe-elasticsearch-exporter", "probe": "observe-probe-exporter",
            "shipper": "observe-shipper", "traces": "observe-traces"}
    assert rendered["rules"]["for_override"] == "1s"
    peers: list[Peer] = []
    shipper = ShipperProcess(workdir / "shipper", es.url, "render")
    try:
        kubeconfig = str(kube.extra["kubeconfig"])
        peers.append(_exporter("cluster-exporter", workdir, ["export", "cluster", "--kubeconfig", kubeconfig], {}))
        peers.append(_exporter("es-exporter", workdir, ["export", "elasticsearch"],
                               {"elasticsearch": {"url": es.url},
                                "exporters": {"elasticsearch": {"data_streams": True, "interval_seconds": 1}}}))
        peers.append(_exporter("probe-exporter", workdir, ["export", "probe"],
                               {"exporters": {"probe": {"allow_cidrs": ["127.0.0.1/32"], "discovery": False,
                                                        # probed below: the ES exporter's /healthz, kube's /readyz
                                                        "allow_ports": [peers[1].ports["http"], urlsplit(kube.url).port],
                                                        "modules": {
                                   "http_2xx": {"prober": "http"},
                                   "https_kube": {"prober": "http", "ca_file": str(kube.extra["ca_file"])}}}}}))
        # `observe traces pull` on the real Jaeger; a short overlap reports the unpaired span within seconds.
        peers.append(_exporter("traces", workdir, ["traces", "pull"], {"traces": {
            "jaeger_url": jaeger.url, "services": mesh.services(), "interval_seconds": 1, "settle_seconds": 0,
            "overlap_seconds": 2, "state_file": str(workdir / "traces-state.msgpack")}}))
        _write_logs(shipper, namespace)
        shipper.start()
        am = alertmanager.start(workdir / "alertmanager", out / "alertmanager" / "alertmanager.yaml")
        peers.append(am)

        def job(name: str, target: str, labels: dict[str, str]) -> dict[str, Any]:
            # honor_labels, as the chart's ServiceMonitors do: a series' own namespace/pod (the object's, or the
            # log's) wins over the scraped pod's; `up` still carries the target's.
            return {"job_name": name, "honor_labels": True, "static_configs": [{"targets": [target], "labels": labels}]}

        cluster, es_exp, probe, traces = peers[0], peers[1], peers[2], peers[3]
        scrape = [
            job(jobs["cluster"], cluster.url.removeprefix("http://"), {"namespace": "observe", "pod": "cluster-exporter-0"}),
            job(jobs["es"], es_exp.url.removeprefix("http://"), {"namespace": "observe", "pod": "es-exporter-0"}),
            job(jobs["traces"], traces.url.removeprefix("http://"), {"namespace": "observe", "pod": "traces-0"}),
            job(jobs["shipper"], f"127.0.0.1:{shipper.port}",
                {"namespace": "observe", "pod": "shipper-x", "node": names["node"]}),
            {"job_name": jobs["probe"], "metrics_path": "/probe", "params": {"module": ["http_2xx"]},
             "static_configs": [{"targets": [f"{es_exp.url}/healthz"]}],
             "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"},
                                 {"source_labels": ["__param_target"], "target_label": "instance"},
                                 {"target_label": "__address__", "replacement": probe.url.removeprefix("http://")}]},
            # The API server's TLS certificate gives the certificate-expiry panel a real value.
            {"job_name": jobs["probe"] + "-tls", "metrics_path": "/probe", "params": {"module": ["https_kube"]},
             "static_configs": [{"targets": [f"{kube.url}/readyz"], "labels": {"job": jobs["probe"]}}],
             "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"},
                                 {"source_labels": ["__param_target"], "target_label": "instance"},
                                 {"target_label": "__address__", "replacement": probe.url.removeprefix("http://")}]},
        ]
        prom = prometheus.start(workdir / "prometheus", rule_files=sorted((out / "rules").glob("*.yaml")),
                                alertmanager_url=am.url, extra_scrape_configs=scrape, job="unused")
        peers.append(prom)
        yield Live(prom, am, namespace, names, out, shipper, mesh, peers)
    finally:
        shipper.stop() if shipper.proc and shipper.proc.poll() is None else None
        for peer in reversed(peers):
            peer.stop()
        mesh.shutdown()
