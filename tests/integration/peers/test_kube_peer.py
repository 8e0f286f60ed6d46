"""The kube-apiserver peer: tests can play kubelet (pod status) and watch with bookmarks."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.peers.base import Peer
from tests.peers.kube import KubeError, kube_request, kube_watch

pytestmark = pytest.mark.integration


def _pod(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
            "spec": {"nodeName": node, "containers": [{"name": "app", "image": "example.invalid/app:1"}]}}


def _running_status() -> dict[str, Any]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"status": {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}],
        "containerStatuses": [{"name": "app", "ready": True, "restartCount": 3, "image": "example.invalid/app:1",
                               "imageID": "", "started": True, "state": {"running": {"startedAt": now}}}],
    }}


def test_pod_status_patch_is_listed_back(kube_apiserver: Peer, kube_namespace: str) -> None:
    ns = kube_namespace
    kube_request(kube_apiserver, "POST", "/api/v1/nodes",
                 {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{ns}"}})
    created = kube_request(kube_apiserver, "POST", f"/api/v1/namespaces/{ns}/pods", _pod("web-0", f"node-{ns}"))
    assert created["status"].get("phase", "Pending") == "Pending"

    kube_request(kube_apiserver, "PATCH", f"/api/v1/namespaces/{ns}/pods/web-0/status", _running_status())

    listed = kube_request(kube_apiserver, "GET", f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3Dweb")
    [pod] = listed["items"]
    assert pod["spec"]["nodeName"] == f"node-{ns}"
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 3


def test_watch_from_list_resource_version_sees_the_change(kube_apiserver: Peer, kube_namespace: str) -> None:
    ns = kube_namespace
    kube_request(kube_apiserver, "POST", f"/api/v1/namespaces/{ns}/pods", _pod("web-1", "node-x"))
    rv = kube_request(kube_apiserver, "GET", f"/api/v1/namespaces/{ns}/pods")["metadata"]["resourceVersion"]

    # Change the pod once the watch is open; the watch starts from the list's resourceVersion, so
    # even a change made before the stream is read cannot be missed.
    timer = threading.Timer(0.5, kube_request, (kube_apiserver, "PATCH",
                                                f"/api/v1/namespaces/{ns}/pods/web-1/status", _running_status()))
    timer.start()
    try:
        path = (f"/api/v1/namespaces/{ns}/pods?watch=1&resourceVersion={rv}"
                "&allowWatchBookmarks=true&timeoutSeconds=20")
        for event in kube_watch(kube_apiserver, path):
            if event["type"] == "MODIFIED":
                assert event["object"]["status"]["phase"] == "Running"
                assert int(event["object"]["metadata"]["resourceVersion"]) > int(rv)
                break
        else:
            pytest.fail("the watch ended without the MODIFIED event")
    finally:
        timer.join()


def test_watch_list_ends_initial_events_with_a_bookmark(kube_apiserver: Peer, kube_namespace: str) -> None:
    ns = kube_namespace
    kube_request(kube_apiserver, "POST", f"/api/v1/namespaces/{ns}/pods", _pod("web-2", "node-x"))
    path = (f"/api/v1/namespaces/{ns}/pods?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
            "&allowWatchBookmarks=true&timeoutSeconds=20")
    seen: list[str] = []
    for event in kube_watch(kube_apiserver, path):
        seen.append(event["type"])
        if event["type"] == "BOOKMARK":
            annotations = event["object"]["metadata"].get("annotations", {})
            assert annotations.get("k8s.io/initial-events-end") == "true"
            assert int(event["object"]["metadata"]["resourceVersion"]) > 0
            break
    assert seen == ["ADDED", "BOOKMARK"]


def test_tls_is_verified_against_the_served_ca(kube_apiserver: Peer) -> None:
    ca = Path(str(kube_apiserver.extra["ca_file"])).read_text()
    assert "BEGIN CERTIFICATE" in ca
    version = kube_request(kube_apiserver, "GET", "/version")
    assert version["gitVersion"].startswith("v1.")
    kubeconfig = Path(str(kube_apiserver.extra["kubeconfig"])).read_text()
    assert kube_apiserver.url in kubeconfig and str(kube_apiserver.extra["token"]) in kubeconfig


def test_unknown_token_is_rejected(kube_apiserver: Peer) -> None:
    stranger = Peer(name="stranger", proc=kube_apiserver.proc, log_path=kube_apiserver.log_path,
                    workdir=kube_apiserver.workdir, url=kube_apiserver.url,
                    extra={**kube_apiserver.extra, "token": "not-a-token"})
    with pytest.raises(KubeError) as err:
        kube_request(stranger, "GET", "/api/v1/namespaces")
    assert err.value.status == 401
