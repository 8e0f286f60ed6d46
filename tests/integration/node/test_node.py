"""The chart on a real node: the image built here, pods started by a real kubelet, logs it wrote, shipped.

One cluster, one image build and one release for the whole module (tests run in file order; the last one
upgrades and uninstalls the release). Every workload runs in its own namespace.
"""

from __future__ import annotations

import re
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.node.conftest import (
    NodeImages,
    Release,
    count,
    create_namespace,
    docs,
    pods,
    ready,
    wait_for,
    workload,
)
from tests.peers.kube import _request, _ssl_context
from tests.peers.node import Cluster

# One release on one real cluster, followed through its life (install, workloads, the shipper's restarts, a bad
# Elasticsearch URL, upgrade, uninstall): shuffled, the bad-URL step ran before the workload test.
pytestmark = [pytest.mark.integration, pytest.mark.keep_order]

PARTS = ("shipper", "cluster-exporter", "probe-exporter", "elasticsearch-exporter")


def run(cluster: Cluster, obj: dict[str, Any]) -> None:
    ns = obj["metadata"]["namespace"]
    path = f"/apis/apps/v1/namespaces/{ns}/deployments" if obj["kind"] == "Deployment" else f"/api/v1/namespaces/{ns}/pods"
    cluster.request("POST", path, obj)


def one_pod(cluster: Cluster, ns: str, app: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def running() -> bool:
        found[:] = [p for p in pods(cluster, ns, f"app={app}") if p["status"].get("phase") == "Running"]
        return len(found) == 1

    wait_for(running, 120, f"pod app={app} Running", lambda: cluster.kubectl("-n", ns, "describe", "pods",
                                                                               check=False).stdout[-3000:])
    return found[0]


def shipped_messages(release: Release, ns: str, pod: str | None = None) -> list[str]:
    return [str(d["message"]) for d in docs(release.es, ns, pod)]


def pod_memory(cluster: Cluster, ns: str) -> dict[str, dict[str, int]]:
    """Per pod: the kubelet's own figures (stats summary) of working set and RSS, in bytes."""
    summary = cluster.get(f"/api/v1/nodes/{cluster.node}/proxy/stats/summary")
    out: dict[str, dict[str, int]] = {}
    for pod in summary["pods"]:
        if pod["podRef"]["namespace"] == ns:
            mem = [c.get("memory", {}) for c in pod.get("containers", [])]
            out[pod["podRef"]["name"]] = {"workingSet": sum(m.get("workingSetBytes", 0) for m in mem),
                                          "rss": sum(m.get("rssBytes", 0) for m in mem)}
    return out


def test_default_install_every_pod_ready_and_helm_test_passes(release: Release, node_images: NodeImages,
                                                              node_cluster: Cluster) -> None:
    cluster = node_cluster
    # helm --wait does not wait for a one-node DaemonSet (it allows maxUnavailable=1 of 1): the shipper is Ready
    # once it reached Elasticsearch and installed its templates.
    wait_for(lambda: all(ready(p) for p in pods(cluster, release.namespace)), 180, "every pod Ready",
             lambda: str([(p["metadata"]["name"], ready(p)) for p in pods(cluster, release.namespace)]))
    objs = pods(cluster, release.namespace)
    parts = Counter(p["metadata"]["labels"]["app.kubernetes.io/component"] for p in objs)
    assert parts == Counter(PARTS), parts
    for pod in objs:
        assert ready(pod), pod["status"]
        assert pod["spec"]["nodeName"] == cluster.node
    # Pod Security: the namespace warns for whatever `restricted` would refuse; that is the shipper alone.
    # (The API server's warning does not name the object: there is exactly one, and it is the shipper's.)
    warnings = [ln for ln in release.install.stderr.splitlines() if "violate PodSecurity" in ln]
    assert len(warnings) == 1 and "hostPath" in warnings[0] and "DAC_READ_SEARCH" in warnings[0], warnings

    # A passing test pod is deleted at once by its hook-delete-policy, so `--logs` would fail on success; a failed
    # one stays, and its logs say which part did not answer.
    test = release.helm("test", release.name, "-n", release.namespace, check=False)
    if test.returncode != 0:
        logs = cluster.kubectl("logs", "-n", release.namespace, f"{release.name}-test-readyz", check=False)
        raise AssertionError(f"helm test failed:\n{test.stdout}\n{test.stderr}\ntest pod logs:\n{logs.stdout}")
    assert re.search(r"TEST SUITE:\s+observe-test-readyz", test.stdout), test.stdout
    assert re.search(r"Phase:\s+Succeeded", test.stdout), test.stdout

    memory = pod_memory(cluster, release.namespace)
    print("install", f"{release.install_seconds:.0f}s", "images", f"{node_images.build_seconds:.0f}s",
          f"observe image {node_images.observe.size / 1e6:.0f} MB", "cluster start", f"{cluster.started_s:.0f}s")
    for name, mem in sorted(memory.items()):
        print(f"{name}: working set {mem['workingSet'] / 2**20:.0f} MiB, rss {mem['rss'] / 2**20:.0f} MiB")
    assert memory


def test_workload_lines_are_shipped_once_with_the_pods_metadata(release: Release, node_images: NodeImages,
                                                                node_cluster: Cluster) -> None:
    cluster = node_cluster
    ns = create_namespace(cluster, "work", {"team": "payments"})
    ident = ns
    run(cluster, workload(ns, "writer", node_images.writer.ref, ["seq", ident], labels={"tier": "web"},
                          annotations={"observe.io/logs.writer.multiline": "python"}))
    pod = one_pod(cluster, ns, "writer")
    name = pod["metadata"]["name"]
    plain = [f"seq {ident} stdout {i}" for i in range(100)] + [f"seq {ident} stderr {i}" for i in range(100)]
    longs = [f"seq {ident} long {k} " + "abcdefghij" * 4000 for k in range(3)]
    expected = len(plain) + len(longs) + 1 + 1  # the traceback as one event, and the done line
    wait_for(lambda: count(release.es, ns, name) >= expected and f"seq {ident} done" in shipped_messages(release, ns, name),
             120, f"{expected} documents of {name}", lambda: str(Counter(shipped_messages(release, ns, name)).most_common(3)))
    time.sleep(3)  # anything extra (a duplicate) would land now
    got = docs(release.es, ns, name)
    messages = Counter(str(d["message"]) for d in got)
    assert max(messages.values()) == 1, messages.most_common(3)
    for line in [*plain, *longs, f"seq {ident} done"]:
        assert messages[line] == 1, line[:80]
    [trace] = [m for m in messages if m.startswith("Traceback (most recent call last):")]
    assert trace.rstrip().endswith(f"KeyError: 'missing-{ident}'") and "\n" in trace, trace
    assert len(got) == expected, sorted(messages)[:5]

    by_message = {str(d["message"]): d for d in got}
    d = by_message[plain[0]]
    k = d["kubernetes"]
    rs = pod["metadata"]["ownerReferences"][0]["name"]
    assert k["namespace"] == ns and k["pod"]["name"] == name and k["pod"]["uid"] == pod["metadata"]["uid"]
    assert k["node"]["name"] == cluster.node
    assert k["deployment"] == {"name": "writer"} and k["replicaset"] == {"name": rs}
    assert k["labels"]["app"] == "writer" and k["labels"]["tier"] == "web"
    assert k["namespace_labels"]["team"] == "payments"
    assert d["container"]["name"] == "writer"
    assert d["container"]["image"]["name"] == node_images.writer.ref
    assert d["container"]["id"] in pod["status"]["containerStatuses"][0]["containerID"]
    assert by_message[f"seq {ident} stderr 0"]["log"]["iostream"] == "stderr"
    cluster.request("DELETE", f"/apis/apps/v1/namespaces/{ns}/deployments/writer")
    # The image's shipper runs whole CRI lines through the C fast path (built by the Dockerfile's zig cc).
    [shipper] = pods(cluster, release.namespace, "app.kubernetes.io/component=shipper")
    text = proxy_get(cluster, f"/api/v1/namespaces/{release.namespace}/pods/http:{shipper['metadata']['name']}:9600"
                              "/proxy/metrics")
    assert metric(text, "observe_shipper_native_fast_path") == 1


def test_kubelet_rotation_loses_and_repeats_nothing(release: Release, node_images: NodeImages,
                                                    node_cluster: Cluster) -> None:
    cluster = node_cluster
    ns = create_namespace(cluster, "rotate")
    n = 30_000  # ~9 MB: the kubelet (containerLogMaxSize 1Mi) rotates several times
    run(cluster, workload(ns, "rotator", node_images.writer.ref, ["rotate", ns, str(n)], kind="Pod"))
    pod = one_pod(cluster, ns, "rotator")
    log_dir = Path(f"/var/log/pods/{ns}_rotator_{pod['metadata']['uid']}/writer")
    rotated: set[str] = set()

    def done() -> bool:
        if log_dir.is_dir():
            rotated.update(p.name for p in log_dir.iterdir() if p.name != "0.log")
        return count(release.es, ns) >= n + 1

    wait_for(done, 300, f"{n + 1} lines of the rotating pod", lambda: f"{count(release.es, ns)} so far")
    time.sleep(3)
    got = docs(release.es, ns)
    seen = Counter(int(str(d["message"]).split()[2]) for d in got if str(d["message"]).startswith("rotate ")
                   and str(d["message"]).split()[2].isdigit())
    assert len(rotated) >= 2, f"the kubelet rotated too little to prove anything: {rotated}"
    assert set(seen) == set(range(n)), f"missing: {sorted(set(range(n)) - set(seen))[:10]}"
    assert max(seen.values()) == 1, seen.most_common(3)
    assert len(got) == n + 1
    print(f"rotation: kubelet made {sorted(rotated)}")
    cluster.request("DELETE", f"/api/v1/namespaces/{ns}/pods/rotator?gracePeriodSeconds=0")


def test_deleted_pods_last_lines_arrive(release: Release, node_images: NodeImages, node_cluster: Cluster) -> None:
    cluster = node_cluster
    ns = create_namespace(cluster, "delete")
    run(cluster, workload(ns, "endless", node_images.writer.ref, ["endless", ns], kind="Pod", grace=10))
    one_pod(cluster, ns, "endless")
    wait_for(lambda: count(release.es, ns) >= 50, 60, "the first lines")
    cluster.request("DELETE", f"/api/v1/namespaces/{ns}/pods/endless")
    wait_for(lambda: not pods(cluster, ns), 60, "the pod gone")

    def last() -> list[str]:
        return [m for m in shipped_messages(release, ns) if m.startswith("last ")]

    wait_for(lambda: bool(last()), 60, "the line written on SIGTERM")
    [final] = last()
    n = int(final.split()[2])
    wait_for(lambda: count(release.es, ns) >= n + 1, 60, f"{n + 1} lines")
    got = Counter(shipped_messages(release, ns))
    assert max(got.values()) == 1, got.most_common(3)
    assert {f"endless {ns} {i}" for i in range(n)} | {final} == set(got)
    # The deleted pod's lines are still enriched (the shipper's grace cache).
    assert all(d["kubernetes"].get("labels", {}).get("app") == "endless" for d in docs(release.es, ns))


def test_crash_loop_every_run_is_shipped(release: Release, node_images: NodeImages, node_cluster: Cluster) -> None:
    cluster = node_cluster
    ns = create_namespace(cluster, "crash")
    run(cluster, workload(ns, "crasher", node_images.writer.ref, ["crash", ns], kind="Pod"))
    status: dict[str, Any] = {}

    def restarted() -> bool:
        got = pods(cluster, ns)
        if got and got[0]["status"].get("containerStatuses"):
            status.update(got[0]["status"]["containerStatuses"][0])
        return int(status.get("restartCount", 0)) >= 2

    wait_for(restarted, 180, "two restarts", lambda: str(status))
    runs = range(3)
    expected = {f"crash {ns} run {r} line {i}" for r in runs for i in range(20)}
    wait_for(lambda: expected <= set(shipped_messages(release, ns)), 60, "three runs shipped")
    got = docs(release.es, ns)
    msgs = Counter(str(d["message"]) for d in got)
    assert max(msgs.values()) == 1, msgs.most_common(3)
    # Each run is its own container (its own id and file N.log); the run number the container counted itself
    # is the kubelet's restart count.
    ids = {r: {d["container"]["id"] for d in got if f" run {r} " in str(d["message"])} for r in runs}
    assert all(len(v) == 1 for v in ids.values()) and len(set().union(*ids.values())) == 3, ids
    restarts = {r: {d["kubernetes"]["container"]["restart_count"] for d in got if f" run {r} " in str(d["message"])}
                for r in runs}
    assert restarts == {r: {r} for r in runs}, restarts
    files = {d["log"]["file"]["path"] for d in got}
    assert len(files) >= 3, files
    metrics = cluster_metrics(release)
    assert metric(metrics, "kube_pod_container_status_restarts_total", namespace=ns, pod="crasher") >= 2
    cluster.request("DELETE", f"/api/v1/namespaces/{ns}/pods/crasher?gracePeriodSeconds=0")


def proxy_get(cluster: Cluster, path: str) -> str:
    """GET through the API server (its service proxy), as text whatever the content type."""
    assert cluster.apiserver is not None
    req = _request(cluster.apiserver, "GET", path, None, None)
    with urllib.request.urlopen(req, timeout=60, context=_ssl_context(cluster.apiserver)) as r:
        return str(r.read().decode())


def cluster_metrics(release: Release) -> str:
    """The cluster exporter's /metrics through the API server's service proxy."""
    return proxy_get(release.cluster, f"/api/v1/namespaces/{release.namespace}/services/"
                                      f"http:{release.name}-cluster-exporter:9600/proxy/metrics")


def metric(text: str, name: str, **labels: str) -> float:
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
            found = True
    assert found, f"no {name} with {labels}"
    return total


def test_exporters_report_the_real_node_and_probe_a_service_by_name(release: Release, node_images: NodeImages,
                                                                    node_cluster: Cluster) -> None:
    cluster = node_cluster
    text = cluster_metrics(release)
    assert metric(text, "kube_node_info", node=cluster.node) == 1
    for part in ("cluster-exporter", "probe-exporter"):
        [pod] = pods(cluster, release.namespace, f"app.kubernetes.io/component={part}")
        assert metric(text, "kube_pod_status_phase", namespace=release.namespace, pod=pod["metadata"]["name"],
                      phase="Running") == 1
    assert metric(text, "kube_daemonset_status_number_ready", namespace=release.namespace,
                  daemonset=f"{release.name}-shipper") == 1

    ns = create_namespace(cluster, "web")
    run(cluster, workload(ns, "web", node_images.writer.ref, ["http"]))
    cluster.request("POST", f"/api/v1/namespaces/{ns}/services", {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    one_pod(cluster, ns, "web")
    target = urllib.parse.quote(f"http://web.{ns}.svc/", safe="")
    path = (f"/api/v1/namespaces/{release.namespace}/services/http:{release.name}-probe-exporter:9600"
            f"/proxy/probe?target={target}")
    body = ""

    def probed() -> bool:
        nonlocal body
        body = proxy_get(cluster, path)
        return "probe_success 1" in body

    wait_for(probed, 60, "a successful probe of the web Service by name", lambda: body)
    assert re.search(r"probe_http_status_code(\{[^}]*\})? 200", body), body


def test_shipper_pod_deleted_mid_stream_loses_and_repeats_nothing(release: Release, node_images: NodeImages,
                                                                  node_cluster: Cluster) -> None:
    cluster = node_cluster
    ns = create_namespace(cluster, "restart")
    run(cluster, workload(ns, "endless", node_images.writer.ref, ["endless", ns], kind="Pod", grace=10))
    one_pod(cluster, ns, "endless")
    wait_for(lambda: count(release.es, ns) >= 100, 60, "the first lines")
    [shipper] = pods(cluster, release.namespace, "app.kubernetes.io/component=shipper")
    cluster.request("DELETE", f"/api/v1/namespaces/{release.namespace}/pods/{shipper['metadata']['name']}")

    def new_shipper_ready() -> bool:
        now = pods(cluster, release.namespace, "app.kubernetes.io/component=shipper")
        return len(now) == 1 and now[0]["metadata"]["uid"] != shipper["metadata"]["uid"] and ready(now[0])

    wait_for(new_shipper_ready, 120, "the DaemonSet's new shipper Ready")
    time.sleep(2)
    cluster.request("DELETE", f"/api/v1/namespaces/{ns}/pods/endless")
    wait_for(lambda: any(m.startswith("last ") for m in shipped_messages(release, ns)), 90, "the last line")
    [final] = [m for m in shipped_messages(release, ns) if m.startswith("last ")]
    n = int(final.split()[2])
    wait_for(lambda: count(release.es, ns) >= n + 1, 60, f"{n + 1} lines")
    got = Counter(shipped_messages(release, ns))
    assert max(got.values()) == 1, got.most_common(3)
    assert {f"endless {ns} {i}" for i in range(n)} | {final} == set(got)
    assert Path("/var/lib/observe/checkpoints").is_dir()


def test_helm_test_names_the_missing_elasticsearch(release: Release, node_cluster: Cluster) -> None:
    cluster = node_cluster
    chart_dir = str(Path(__file__).resolve().parents[3] / "helm" / "observe")
    nowhere = "http://elasticsearch-nowhere:9200"
    [old] = pods(cluster, release.namespace, "app.kubernetes.io/component=shipper")
    out = release.helm("upgrade", release.name, chart_dir, "-n", release.namespace, *release.values,
                       "--set", f"elasticsearch.url={nowhere}")
    [missing] = [ln for ln in out.stdout.splitlines() if ln.startswith("MISSING:")]
    assert "Service elasticsearch-nowhere" in missing and "set elasticsearch.url" in missing

    def new_shipper_running() -> bool:
        now = pods(cluster, release.namespace, "app.kubernetes.io/component=shipper")
        return len(now) == 1 and now[0]["metadata"]["uid"] != old["metadata"]["uid"] and \
            now[0]["status"].get("phase") == "Running"

    wait_for(new_shipper_running, 120, "the reconfigured shipper running")
    test = release.helm("test", release.name, "-n", release.namespace, "--logs", check=False)
    assert test.returncode != 0
    # helm test prints the NOTES (with their own MISSING line) before the test pod's logs.
    logs = test.stdout[test.stdout.index("POD LOGS:"):]
    lines = [ln for ln in logs.splitlines() if ln.startswith("MISSING:")]
    assert len(lines) == 1, test.stdout
    assert f"Elasticsearch at {nowhere} is not ready for" in lines[0] and "shipper" in lines[0]
    assert lines[0].endswith("set elasticsearch.url to a reachable Elasticsearch")
    # A failed test pod stays (for its logs) until the next `helm test` replaces it; helm uninstall would not
    # delete it either (hooks are not release objects), so remove it as docs/install.md tells users to.
    cluster.request("DELETE", f"/api/v1/namespaces/{release.namespace}/pods/{release.name}-test-readyz")
    wait_for(lambda: not pods(cluster, release.namespace, "app.kubernetes.io/component=helm-test"), 60,
             "the failed test pod gone")


def test_upgrade_rolls_the_pods_and_uninstall_leaves_nothing(release: Release, node_cluster: Cluster) -> None:
    cluster = node_cluster
    before = {p["metadata"]["name"] for p in pods(cluster, release.namespace)}
    release.helm("upgrade", release.name, str(Path(__file__).resolve().parents[3] / "helm" / "observe"),
                 "-n", release.namespace, *release.values, "--set", "service.logLevel=debug", "--wait",
                 "--timeout", "5m")
    # (--wait lets the one-node shipper DaemonSet be unready: wait for it here.)
    wait_for(lambda: len(pods(cluster, release.namespace)) == len(PARTS)
             and all(ready(p) for p in pods(cluster, release.namespace)), 180, "every rolled pod Ready")
    names = {p["metadata"]["name"] for p in pods(cluster, release.namespace)}
    assert not names & before, "a config change rolls every part"
    release.helm("uninstall", release.name, "-n", release.namespace, "--wait")
    selector = urllib.parse.quote(f"app.kubernetes.io/instance={release.name}")
    wait_for(lambda: not pods(cluster, release.namespace), 120, "every pod gone")
    for path in (f"/api/v1/namespaces/{release.namespace}/configmaps", f"/api/v1/namespaces/{release.namespace}/services",
                 f"/apis/apps/v1/namespaces/{release.namespace}/daemonsets",
                 f"/apis/apps/v1/namespaces/{release.namespace}/deployments",
                 "/apis/rbac.authorization.k8s.io/v1/clusterroles", "/apis/scheduling.k8s.io/v1/priorityclasses"):
        assert cluster.get(f"{path}?labelSelector={selector}")["items"] == [], path
    secrets = cluster.get(f"/api/v1/namespaces/{release.namespace}/secrets")["items"]
    assert not [s for s in secrets if s["metadata"]["name"].startswith("sh.helm.release")]
