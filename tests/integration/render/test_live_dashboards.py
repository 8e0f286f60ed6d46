"""Live proof: every dashboard query and recording rule returns series from our real exporters and trace puller,
the kubernetes-mixin alerts on the newer kube-state-metrics families fire, and alerts arrive by real email at the
address chosen by namespace."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.render.cluster_seed import set_pod_state
from tests.integration.render.live import Live, start_live
from tests.peers import prometheus, smtp
from tests.peers.base import Peer
from tests.peers.kube import create_namespace
from tests.peers.smtp import Received, SmtpSink

# One live stack (Prometheus, Alertmanager, every exporter, the shipper) for the module: some tests change what it
# sees (objects that make alerts fire), so shuffled they failed or hung where the written order passes.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.keep_order]
REPO = Path(__file__).resolve().parents[3]
EXCEPTIONS = yaml.safe_load((REPO / "dashboards" / "live-exceptions.yaml").read_text())


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    s, controller = smtp.start()
    yield s
    controller.stop()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, kube_apiserver: Peer, elasticsearch: Peer, jaeger: Peer,
         sink: SmtpSink) -> Iterator[Live]:
    namespace = create_namespace(kube_apiserver)
    gen = start_live(tmp_path_factory.mktemp("live"), kube_apiserver, namespace, elasticsearch, jaeger, sink)
    stack = next(gen)
    # Let rates and recording rules see a few scrapes.
    prometheus.wait_for(stack.prometheus, 'kube_pod_info{job="observe-cluster-exporter"}', timeout=60)
    prometheus.wait_for(stack.prometheus, 'observe_shipper_lines_read_total > 0', timeout=60)
    prometheus.wait_for(stack.prometheus, 'traces_service_graph_unpaired_spans_total{job="observe-traces"} > 0',
                        timeout=60)
    # One more restart of the crash-looping pod, as the kubelet would do, so restart rates are not zero.
    set_pod_state(kube_apiserver, namespace, stack.names["crash_pod"], restarts=4, waiting="CrashLoopBackOff")
    time.sleep(10)
    yield stack
    gen.close()


def _excused(text: str) -> str | None:
    return next((e["reason"] for e in EXCEPTIONS if re.search(e["match"], text)), None)


def _label_values(peer: Peer, query: str) -> list[str]:
    """Evaluate a Grafana `label_values(selector, label)` variable query against Prometheus."""
    found = re.fullmatch(r"label_values\((.*), (\w+)\)", query)
    assert found, query
    selector, label = found.groups()
    series = prometheus.query(peer, selector.replace('cluster="$cluster"', 'cluster=""'))
    return sorted({s["metric"].get(label, "") for s in series})


def _dashboards(live: Live) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((live.render_dir / "dashboards").glob("*.json"))}


def _variables(live: Live, board: dict[str, Any]) -> dict[str, str]:
    """Pick a value for every template variable, proving the variable queries on the way."""
    chosen = {"cluster": "", "namespace": live.namespace, "workload": live.names["workload"], "pod": live.names["crash_pod"],
              "node": live.names["node"]}
    for var in board["templating"]["list"]:
        if var["type"] != "query" or var["name"] == "cluster":
            continue
        query = var["query"]["query"].replace("$namespace", live.namespace)
        if _excused(query):
            continue
        values = _label_values(live.prometheus, query)
        assert values, f"variable {var['name']} ({query}) has no values"
        if var["name"] in chosen:
            assert chosen[var["name"]] in values, (var["name"], values)
        else:
            chosen[var["name"]] = var.get("allValue") or values[0]  # Grafana's default selection: All
    return chosen


def _expand(expr: str, chosen: dict[str, str]) -> str:
    expr = expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
    for name, value in sorted(chosen.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(f"${name}", value)
    assert "$" not in expr.replace("$1", ""), expr
    return expr


def test_every_dashboard_query_returns_series(live: Live) -> None:
    empty: list[str] = []
    checked = excused = 0
    for stem, board in _dashboards(live).items():
        chosen = _variables(live, board)
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if _excused(target["expr"]):
                    excused += 1
                    continue
                expr = _expand(target["expr"], chosen)
                deadline = time.monotonic() + 20
                while not prometheus.query(live.prometheus, expr) and time.monotonic() < deadline:
                    time.sleep(1)
                checked += 1
                if not prometheus.query(live.prometheus, expr):
                    empty.append(f"{stem} / {panel['title']}: {expr}")
    assert empty == [], "queries without series:\n" + "\n".join(empty)
    assert checked > 100, checked
    print(f"{checked} dashboard queries returned series; {excused} excused by dashboards/live-exceptions.yaml")


def test_the_exceptions_list_is_short_and_every_entry_is_used(live: Live) -> None:
    assert len(EXCEPTIONS) <= 12
    texts = [t["expr"] for b in _dashboards(live).values() for p in b["panels"] for t in p.get("targets", [])]
    for rule_file in (live.render_dir / "rules").glob("*.yaml"):
        texts += [r["expr"] for g in yaml.safe_load(rule_file.read_text())["groups"] for r in g["rules"]]
    for entry in EXCEPTIONS:
        assert entry["reason"], entry
        assert any(re.search(entry["match"], t) for t in texts), f"stale exception: {entry['match']}"


def test_every_recording_rule_returns_series(live: Live) -> None:
    empty = []
    for rule_file in sorted((live.render_dir / "rules").glob("*.yaml")):
        for group in yaml.safe_load(rule_file.read_text())["groups"]:
            for rule in group["rules"]:
                if "record" not in rule or _excused(rule["record"]) or _excused(rule["expr"]):
                    continue
                selector = f'{{__name__="{rule["record"]}"}}'
                try:
                    prometheus.wait_for(live.prometheus, selector, timeout=20)
                except AssertionError:
                    empty.append(f"{rule_file.name}: {rule['record']}")
    assert empty == []


def _alert(live: Live, name: str) -> dict[str, Any]:
    for rule_file in (live.render_dir / "rules").glob("*.yaml"):
        for group in yaml.safe_load(rule_file.read_text())["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == name:
                    return dict(rule)
    raise AssertionError(f"no alert {name} in the rendered rules")


@pytest.mark.parametrize(("alert", "label", "seeded", "healthy"), [
    ("KubeDeploymentRolloutStuck", "deployment", "workload", None),
    ("KubeNodeUnreachable", "node", "unreachable_node", "node"),
    ("KubeJobNotCompleted", "job_name", "job", None),
])
def test_alerts_on_the_newer_ksm_families_fire_for_the_seeded_object(
        live: Live, alert: str, label: str, seeded: str, healthy: str | None) -> None:
    # Other tests of the session share the API server, so look only at this test's namespace and nodes.
    scope = "" if label == "node" else f'namespace="{live.namespace}", '
    series = prometheus.query(live.prometheus, _alert(live, alert)["expr"])
    assert live.names[seeded] in {s["metric"].get(label) for s in series}, (alert, series)
    # `for:` is 1s in the test values: the alert fires for the seeded object, and not for the healthy one.
    firing = prometheus.wait_for(live.prometheus,
                                 f'ALERTS{{{scope}alertname="{alert}", alertstate="firing", {label}="{live.names[seeded]}"}}',
                                 timeout=30)
    assert len(firing) == 1, firing
    if scope:
        assert {s["metric"][label] for s in prometheus.query(
            live.prometheus, f'ALERTS{{{scope}alertname="{alert}"}}')} == {live.names[seeded]}
    if healthy:
        assert prometheus.query(live.prometheus, f'ALERTS{{alertname="{alert}", {label}="{live.names[healthy]}"}}') == []


def _mail(sink: SmtpSink, alertname: str, rcpt: str) -> Received:
    return sink.wait_for(lambda m: alertname in str(m.message["Subject"]) and rcpt in m.rcpt_tos, timeout=90)


def _html(msg: Received) -> str:
    part = msg.message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def test_crash_looping_pod_is_mailed_to_its_namespace_team(live: Live, kube_apiserver: Peer, sink: SmtpSink) -> None:
    pod = live.names["crash_pod"]
    for restarts in (5, 6):  # the kubelet would raise the count at every back-off
        set_pod_state(kube_apiserver, live.namespace, pod, restarts=restarts, waiting="CrashLoopBackOff")
        time.sleep(1)
    prometheus.wait_for(live.prometheus, f'kube_pod_container_status_restarts_total{{pod="{pod}"}} == 6', timeout=30)
    msg = _mail(sink, "KubePodCrashLooping", "shop-team@observe.test")
    assert msg.rcpt_tos == ["shop-team@observe.test"]
    assert msg.message["Subject"] == f"[FIRING:1] KubePodCrashLooping in {live.namespace} (warning): Pod is crash looping."
    html = _html(msg)
    # The alert mails as soon as it fires; the restart count is the one Prometheus had then (seeded 3, then 4..6).
    found = re.search(rf"Pod {live.namespace}/{pod} \(app\) is in waiting state \(reason: &#34;CrashLoopBackOff&#34;\) "
                      r"and has restarted (\d+) times\.", html)
    assert found, html
    assert 3 <= int(found.group(1)) <= 6
    assert f"/d/observe-pod?var-cluster=&amp;var-namespace={live.namespace}&amp;var-pod={pod}" in html
    assert f"kubernetes.namespace:%22{live.namespace}%22%20AND%20kubernetes.pod.name:%22{pod}%22" in html
    assert "/docs/runbooks/KubePodCrashLooping.md" in html


def test_shipper_down_is_mailed_to_the_platform_team(live: Live, sink: SmtpSink) -> None:
    live.shipper.kill()
    msg = _mail(sink, "ObserveShipperDown", "platform@observe.test")
    assert sorted(msg.rcpt_tos) == ["oncall-critical@observe.test", "platform@observe.test"]
    assert msg.message["Subject"] == "[FIRING:1] ObserveShipperDown in observe (critical): A log shipper is down."
    html = _html(msg)
    assert f"on node {live.names['node']} has not answered scrapes" in html
    assert "/d/observe-log-pipeline?" in html and "/docs/runbooks/ObserveShipperDown.md" in html
