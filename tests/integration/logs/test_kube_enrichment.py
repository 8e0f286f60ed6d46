"""Kubernetes-aware shipping against the real kube-apiserver and the real Elasticsearch, through `observe ship`.

Each test plays the controllers (creates the workload objects, binds pods to its own node, patches their
status) and the kubelet (writes the CRI log files), then checks the documents in Elasticsearch.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.logs.kube_objects import (
    append,
    container_id,
    create_pod,
    cronjob_with_job,
    deployment_with_replicaset,
    kube_shipper,
    owner,
    pod_log,
)
from tests.integration.logs.shipper_process import ShipperProcess, all_docs, count, cri_line, wait_for
from tests.peers.base import Peer, free_port
from tests.peers.kube import kube_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOC_FIELDS = ("message", "log", "kubernetes", "container", "labels", "json", "error", "tags")


@pytest.fixture
def stop_after() -> Iterator[list[ShipperProcess]]:
    procs: list[ShipperProcess] = []
    yield procs
    for sp in procs:
        sp.stop()


def docs_of(url: str, index: str) -> list[dict[str, Any]]:
    return all_docs(url, index, DOC_FIELDS)


def by_message(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["message"]: d for d in docs}


def test_documents_carry_pod_workload_node_labels_and_namespace_labels(
    tmp_path: Path, kube_apiserver: Peer, kube_namespace: str, elasticsearch: Peer, stop_after: list[ShipperProcess]
) -> None:
    ns = kube_namespace
    kube_request(kube_apiserver, "PATCH", f"/api/v1/namespaces/{ns}", {"metadata": {"labels": {"team": "payments",
                                                                                              "cost.example.com/centre": "42"}}})
    sp, node, root = kube_shipper(tmp_path, elasticsearch.url, kube_apiserver)
    rs = deployment_with_replicaset(kube_apiserver, ns, "web", "5d9c7b6f4")
    # No pod-template-hash label: the Deployment can only come from reading the ReplicaSet through the API.
    web = create_pod(kube_apiserver, ns, "web-5d9c7b6f4-x2x9q", node, owner_ref=owner("ReplicaSet", rs, "apps/v1"),
                     labels={"app": "web", "app.kubernetes.io/name": "web", "tier": "3"})
    job = cronjob_with_job(kube_apiserver, ns, "nightly")
    batch = create_pod(kube_apiserver, ns, "nightly-28777777-abcde", node, owner_ref=owner("Job", job, "batch/v1"),
                       labels={"app": "nightly"},
                       containers=[{"name": "app", "image": "registry.local/batch:1"}])
    append(pod_log(root, web), cri_line("GET /orders 200") + cri_line("slow query", "stderr"))
    append(pod_log(root, batch), cri_line("nightly run done"))
    stop_after.append(sp.start())
    index = sp.data_stream
    wait_for(lambda: count(elasticsearch.url, index) >= 3, 60, "3 documents", sp.log_tail)
    got = by_message(docs_of(elasticsearch.url, index))
    d = got["GET /orders 200"]
    k = d["kubernetes"]
    assert k["namespace"] == ns and k["node"]["name"] == node
    assert k["pod"] == {"name": "web-5d9c7b6f4-x2x9q", "uid": web["metadata"]["uid"]}
    assert k["deployment"] == {"name": "web"} and k["replicaset"] == {"name": "web-5d9c7b6f4"}
    assert k["labels"] == {"app": "web", "app_kubernetes_io/name": "web", "tier": "3"}
    assert k["namespace_labels"]["team"] == "payments"
    assert k["namespace_labels"]["cost_example_com/centre"] == "42"
    assert k["namespace_labels"]["kubernetes_io/metadata_name"] == ns
    assert d["container"] == {"name": "app", "id": container_id(web, "app"), "image": {"name": "registry.local/web:1.2"}}
    assert got["slow query"]["log"]["iostream"] == "stderr"
    b = got["nightly run done"]["kubernetes"]
    assert b["job"] == {"name": "nightly-28777777"} and b["cronjob"] == {"name": "nightly"}
    assert "deployment" not in b
    assert sp.metric("observe_shipper_kube_api_up") == 1


def test_annotation_change_takes_effect_without_restart(
    tmp_path: Path, kube_apiserver: Peer, kube_namespace: str, elasticsearch: Peer, stop_after: list[ShipperProcess]
) -> None:
    ns = kube_namespace
    sp, node, root = kube_shipper(tmp_path, elasticsearch.url, kube_apiserver)
    pod = create_pod(kube_apiserver, ns, "api-0", node, labels={"app": "api"}, annotations={
        "observe.io/logs.app.format": "json",
        "observe.io/logs.app.colour": "blue",  # invalid: reported, and the stream still ships
    })
    path = pod_log(root, pod)
    append(path, cri_line('{"level":"INFO","msg":"before 0","order":7}'))
    stop_after.append(sp.start())
    wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= 1, 60, "the first document", sp.log_tail)
    [first] = docs_of(elasticsearch.url, sp.data_stream)
    assert first["message"] == "before 0" and first["log"]["level"] == "info" and first["json"] == {"order": 7}
    assert sp.metric("observe_shipper_annotation_errors_total", namespace=ns, pod="api-0",
                     key="observe.io/logs.app.colour") == 1
    assert "observe.io/logs.app.colour" in sp.log_path.read_text() and "api-0" in sp.log_path.read_text()

    target = f"logs-kt{uuid.uuid4().hex[:8]}.payments-default"
    kube_request(kube_apiserver, "PATCH", f"/api/v1/namespaces/{ns}/pods/api-0", {"metadata": {"annotations": {
        "observe.io/logs.app.format": None, "observe.io/logs.app.colour": None,
        "observe.io/logs.app.index": target, "observe.io/logs.app.tags": "team=pay,tier=gold"}}})
    # Keep writing until a line lands in the new data stream: from then on, every line goes there, as plain text.
    n = 0
    deadline = time.monotonic() + 60
    while count(elasticsearch.url, target) == 0:
        assert time.monotonic() < deadline, sp.log_tail()
        n += 1
        append(path, cri_line(f'{{"level":"WARN","msg":"after {n}"}}'))
        time.sleep(0.5)
    last = [f'{{"level":"WARN","msg":"last {i}"}}' for i in range(3)]
    append(path, b"".join(cri_line(x) for x in last))
    total = 1 + n + len(last)
    wait_for(lambda: count(elasticsearch.url, sp.data_stream) + count(elasticsearch.url, target) >= total, 60,
             f"{total} documents", sp.log_tail)
    moved = docs_of(elasticsearch.url, target)
    assert {d["message"] for d in moved} >= set(last)
    for d in moved:
        assert d["labels"] == {"team": "pay", "tier": "gold"}
        assert "json" not in d, "the format annotation was removed: the message stays raw"
    old = docs_of(elasticsearch.url, sp.data_stream)
    assert len(old) + len(moved) == total, "every line exactly once across the two streams"


def deleted_logged(sp: ShipperProcess, pod: str) -> bool:
    """The shipper logged that it saw the pod's DELETED event."""
    for line in sp.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{") and "pod deleted" in line:
            if json.loads(line).get("kubernetes.pod.name") == pod:
                return True
    return False


def test_deleted_pods_last_lines_are_still_enriched(
    tmp_path: Path, kube_apiserver: Peer, kube_namespace: str, elasticsearch: Peer, stop_after: list[ShipperProcess]
) -> None:
    ns = kube_namespace
    sp, node, root = kube_shipper(tmp_path, elasticsearch.url, kube_apiserver)
    pod = create_pod(kube_apiserver, ns, "worker-1", node, labels={"app": "worker"},
                     containers=[{"name": "app", "image": "registry.local/worker:3"},
                                 {"name": "sidecar", "image": "registry.local/proxy:1"}])
    path = pod_log(root, pod)
    append(path, cri_line("started"))
    stop_after.append(sp.start())
    wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= 1, 60, "the first document", sp.log_tail)
    kube_request(kube_apiserver, "DELETE", f"/api/v1/namespaces/{ns}/pods/worker-1", {"gracePeriodSeconds": 0})
    # The shipper has the DELETED event; the kubelet still flushes the container's last words after it.
    wait_for(lambda: deleted_logged(sp, "worker-1"), 30, "the pod's DELETED event", sp.log_tail)
    append(path, cri_line("shutting down") + cri_line("bye", "stderr"))
    append(pod_log(root, pod, "sidecar"), cri_line("sidecar drained"))  # a file first seen after the deletion
    wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= 4, 60, "4 documents", sp.log_tail)
    got = by_message(docs_of(elasticsearch.url, sp.data_stream))
    for message in ("shutting down", "bye", "sidecar drained"):
        k = got[message]["kubernetes"]
        assert k["pod"]["uid"] == pod["metadata"]["uid"] and k["labels"] == {"app": "worker"}, message
        assert k["node"]["name"] == node
    assert got["sidecar drained"]["container"]["image"]["name"] == "registry.local/proxy:1"


def test_files_in_empty_dir_ship_to_the_data_stream_their_annotation_names(
    tmp_path: Path, kube_apiserver: Peer, kube_namespace: str, elasticsearch: Peer, stop_after: list[ShipperProcess]
) -> None:
    ns = kube_namespace
    kubelet = tmp_path / "kubelet"
    target = f"logs-kt{uuid.uuid4().hex[:8]}.audit-default"
    sp, node, root = kube_shipper(tmp_path, elasticsearch.url, kube_apiserver)
    sp.config["logs"]["kubernetes"]["kubelet_root"] = str(kubelet)
    sp.config_path.write_text(json.dumps(sp.config))
    pod = create_pod(
        kube_apiserver, ns, "billing-0", node, labels={"app": "billing"},
        annotations={"observe.io/logs.audit": "/var/log/billing/audit-*.log", "observe.io/logs.audit.index": target,
                     "observe.io/logs.audit.format": "json", "observe.io/logs.audit.tags": "source=audit"},
        containers=[{"name": "app", "image": "registry.local/billing:7",
                     "volumeMounts": [{"name": "logs", "mountPath": "/var/log/billing"}]}],
        volumes=[{"name": "logs", "emptyDir": {}}],
    )
    volume = kubelet / "pods" / pod["metadata"]["uid"] / "volumes" / "kubernetes.io~empty-dir" / "logs"
    volume.mkdir(parents=True)
    (volume / "audit-1.log").write_text('{"level":"info","msg":"invoice 1 paid","amount":12}\n'
                                        '{"level":"error","msg":"invoice 2 failed"}\n')
    (volume / "debug.log").write_text("not declared, never shipped\n")
    append(pod_log(root, pod), cri_line("stdout still ships to the default stream"))
    stop_after.append(sp.start())
    wait_for(lambda: count(elasticsearch.url, target) >= 2, 60, f"2 documents in {target}", sp.log_tail)
    (volume / "audit-2.log").write_text('{"level":"info","msg":"a new file matching the glob"}\n')
    wait_for(lambda: count(elasticsearch.url, target) >= 3, 60, "the new file too", sp.log_tail)
    wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= 1, 60, "stdout document", sp.log_tail)
    got = by_message(docs_of(elasticsearch.url, target))
    assert set(got) == {"invoice 1 paid", "invoice 2 failed", "a new file matching the glob"}
    d = got["invoice 2 failed"]
    assert d["log"]["level"] == "error"
    assert d["log"]["file"]["path"] == str(volume / "audit-1.log")
    assert d["kubernetes"]["pod"]["name"] == "billing-0" and d["kubernetes"]["labels"] == {"app": "billing"}
    assert d["container"]["name"] == "app" and d["container"]["image"]["name"] == "registry.local/billing:7"
    assert d["labels"] == {"source": "audit"}
    assert got["invoice 1 paid"]["json"] in ({"amount": "12"}, {"amount": 12})
    assert [x["message"] for x in docs_of(elasticsearch.url, sp.data_stream)] == ["stdout still ships to the default stream"]


def test_unreachable_api_ships_with_path_metadata_and_says_so(tmp_path: Path, elasticsearch: Peer,
                                                              stop_after: list[ShipperProcess]) -> None:
    dead = tmp_path / "dead-kubeconfig"
    dead.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": f"https://127.0.0.1:{free_port()}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "x", "user": {"token": "t"}}], "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}],
    }))
    sp, _, root = kube_shipper(tmp_path, elasticsearch.url, None, kubeconfig=str(dead))
    pod = {"metadata": {"namespace": "shop", "name": "cart-7f8d-abcde", "uid": str(uuid.uuid4())}}
    append(pod_log(root, pod), cri_line("still shipped"))
    stop_after.append(sp.start(wait_ready=False))
    wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= 1, 60, "the document", sp.log_tail)
    [d] = docs_of(elasticsearch.url, sp.data_stream)
    assert d["kubernetes"]["namespace"] == "shop" and d["kubernetes"]["pod"]["name"] == "cart-7f8d-abcde"
    assert d["kubernetes"]["pod"]["uid"] == pod["metadata"]["uid"] and d["container"]["name"] == "app"
    assert sp.metric("observe_shipper_kube_api_up") == 0
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{sp.port}/readyz", timeout=5)
    assert err.value.code == 503
    assert b"kubernetes API unreachable" in err.value.read()


def test_excluded_pods_and_containers_are_counted_and_aliyun_env_streams_ship(
    tmp_path: Path, kube_apiserver: Peer, kube_namespace: str, elasticsearch: Peer, stop_after: list[ShipperProcess]
) -> None:
    ns = kube_namespace
    sp, node, root = kube_shipper(tmp_path, elasticsearch.url, kube_apiserver)
    quiet = create_pod(kube_apiserver, ns, "noisy-0", node, annotations={"observe.io/logs": "false"})
    name = f"cat{uuid.uuid4().hex[:8]}"
    legacy = create_pod(
        kube_apiserver, ns, "tomcat-0", node, annotations={"observe.io/logs.sidecar": "false"},
        containers=[{"name": "app", "image": "registry.local/tomcat:9",
                     "env": [{"name": f"aliyun_logs_{name}", "value": "stdout"},
                             {"name": f"aliyun_logs_{name}_tags", "value": "team=legacy,app.tier=web"}]},
                    {"name": "sidecar", "image": "registry.local/proxy:1"}])
    append(pod_log(root, quiet), cri_line("drop 1") + cri_line("drop 2") + cri_line("drop 3"))
    append(pod_log(root, legacy, "sidecar"), cri_line("sidecar 1") + cri_line("sidecar 2"))
    append(pod_log(root, legacy), cri_line("catalina started"))
    stop_after.append(sp.start())
    target = f"logs-{name}-default"
    wait_for(lambda: count(elasticsearch.url, target) >= 1, 60, f"a document in {target}", sp.log_tail)
    wait_for(lambda: sp.metric("observe_shipper_events_dropped_total", reason="excluded", intentional="true") >= 5, 30,
             "5 excluded events counted", sp.log_tail)
    [d] = docs_of(elasticsearch.url, target)
    assert d["message"] == "catalina started"
    assert d["labels"] == {"team": "legacy", "app_tier": "web"}
    assert d["kubernetes"]["pod"]["name"] == "tomcat-0" and d["container"]["name"] == "app"
    assert count(elasticsearch.url, sp.data_stream) == 0
    assert sp.metric("observe_shipper_events_dropped_total", reason="excluded", intentional="true") == 5


def file_events(sp: ShipperProcess, path: Path) -> list[str]:
    """The messages the shipper logged about one file, in order."""
    out = []
    for line in sp.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            if rec.get("file.path") == str(path):
                out.append(str(rec["message"]))
    return out


def test_annotation_narrowed_then_widened_while_lines_keep_arriving(
    tmp_path: Path, kube_apiserver: Peer, kube_namespace: str, elasticsearch: Peer, stop_after: list[ShipperProcess]
) -> None:
    ns = kube_namespace
    kubelet = tmp_path / "kubelet"
    sp, node, _root = kube_shipper(tmp_path, elasticsearch.url, kube_apiserver)
    sp.config["logs"]["kubernetes"]["kubelet_root"] = str(kubelet)
    sp.config_path.write_text(json.dumps(sp.config))
    declared = {"observe.io/logs.audit": "/var/log/billing/audit-*.log"}
    pod = create_pod(
        kube_apiserver, ns, "billing-1", node, annotations=declared,
        containers=[{"name": "app", "image": "registry.local/billing:7",
                     "volumeMounts": [{"name": "logs", "mountPath": "/var/log/billing"}]}],
        volumes=[{"name": "logs", "emptyDir": {}}],
    )
    volume = kubelet / "pods" / pod["metadata"]["uid"] / "volumes" / "kubernetes.io~empty-dir" / "logs"
    volume.mkdir(parents=True)
    path = volume / "audit-1.log"
    written: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            if i % 30 < 10:  # bursts, with pauses longer than rotate_grace_seconds (1 s)
                text = f"audit {i}"
                append(path, text.encode() + b"\n")
                written.append(text)
            i += 1
            time.sleep(0.1)

    def shipped() -> set[str]:
        return {d["message"] for d in docs_of(elasticsearch.url, sp.data_stream)}

    append(path, b"audit start\n")
    written.append("audit start")
    stop_after.append(sp.start())
    t = threading.Thread(target=writer)
    t.start()
    try:
        wait_for(lambda: len(shipped()) >= 10, 60, "the declared file shipping", sp.log_tail)
        pod_path = f"/api/v1/namespaces/{ns}/pods/billing-1"
        kube_request(kube_apiserver, "PATCH", pod_path, {"metadata": {"annotations": {"observe.io/logs.audit": None}}})
        # The shipper stops reading the file (before: it read it as if rotated, and closed it after a quiet second).
        wait_for(lambda: any(m.startswith(("file left the globs", "closed file")) for m in file_events(sp, path)), 60,
                 "the file no longer read", sp.log_tail)
        mark = len(written)
        wait_for(lambda: len(written) >= mark + 20, 60, "lines written while undeclared")
        assert not shipped() & set(written[mark:]), "a file the pod no longer declares was shipped from"
        kube_request(kube_apiserver, "PATCH", pod_path, {"metadata": {"annotations": declared}})
        again = len(written)
        wait_for(lambda: len(written) >= again + 20, 60, "lines written after declaring it again")
    finally:
        stop.set()
        t.join()
    wait_for(lambda: count(elasticsearch.url, sp.data_stream) >= len(written), 60, f"{len(written)} documents",
             lambda: f"{len(shipped())} shipped\n{sp.log_tail()}")
    wait_for(lambda: sp.metric("observe_shipper_lag_bytes") == 0, 60, "every byte acknowledged", sp.log_tail)
    docs = docs_of(elasticsearch.url, sp.data_stream)
    assert sorted(d["message"] for d in docs) == sorted(written)
    assert len({d["_id"] for d in docs}) == len(docs)
