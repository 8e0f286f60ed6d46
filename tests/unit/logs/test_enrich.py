"""Enrichment logic without a server: the slim pod, bindings, re-planning, grace cache, and the plan processor."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from observe.logs.enrich import KubeEnricher
from observe.logs.event import FLAG_MULTILINE_SPLIT, FLAG_PARSE_FAILED, Event
from observe.logs.plan import FilePlan, PlanSlot, Settings, path_plan
from observe.logs.pod_meta import PodMeta, pod_meta
from observe.logs.process import PlanProcessor
from tests.unit.logs import traces

UID = "0b9c1e6a-4c4e-4a8e-9d65-2f1a1b2c3d4e"


def api_pod(**meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-5d9c-x", "namespace": "shop", "uid": UID, "resourceVersion": "7",
                     "labels": {"app": "web", "app.kubernetes.io/name": "web", "pod-template-hash": "5d9c"},
                     "annotations": {"observe.io/logs.app.format": "json", "kubectl.kubernetes.io/last-applied": "{...}"},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "web-5d9c", "controller": True, "uid": "x"}], **meta},
        "spec": {"nodeName": "node-1", "volumes": [{"name": "logs", "emptyDir": {}}, {"name": "cfg", "configMap": {}}],
                 "containers": [{"name": "app", "image": "registry.local/web:1",
                                 "volumeMounts": [{"name": "logs", "mountPath": "/var/log/app"}],
                                 "env": [{"name": "aliyun_logs_web", "value": "stdout"}, {"name": "SECRET", "value": "x"},
                                         {"name": "aliyun_logs_db", "valueFrom": {"secretKeyRef": {}}}]}]},
        "status": {"containerStatuses": [{"name": "app", "image": "registry.local/web:1", "containerID": "containerd://abc123",
                                          "restartCount": 0, "state": {"running": {}}}]},
    }


def test_pod_meta_keeps_only_what_is_shipped() -> None:
    p = pod_meta(api_pod())
    assert (p.uid, p.name, p.namespace, p.node) == (UID, "web-5d9c-x", "shop", "node-1")
    assert p.annotations == {"observe.io/logs.app.format": "json"}
    assert p.owner == ("ReplicaSet", "web-5d9c")
    assert p.images == {"app": "registry.local/web:1"} and p.container_ids == {"app": "abc123"}
    assert p.empty_dirs == {"logs"}
    [c] = p.containers
    assert c.env == (("aliyun_logs_web", "stdout"),)  # valueFrom and unrelated env are not kept
    assert c.mounts[0].path == "/var/log/app"


def enricher(**kw: Any) -> tuple[KubeEnricher, Counter]:
    registry = CollectorRegistry()
    dropped = Counter("observe_shipper_events_dropped", "d", ["reason", "intentional"], registry=registry)

    async def never() -> Any:
        raise AssertionError("no API in unit tests")

    e = KubeEnricher(never, registry, node_name="node-1", resolve_wait_seconds=0, **kw)
    return e, dropped


class _Store:
    """Stands in for a reflector's store (the cache logic is the reflector's own, tested elsewhere)."""

    def __init__(self) -> None:
        self.store: dict[str, Any] = {}
        self.up = True
        self.synced = asyncio.Event()
        self.synced.set()


def wired(e: KubeEnricher) -> None:
    e.pods = _Store()  # type: ignore[assignment]
    e.namespaces = _Store()  # type: ignore[assignment]
    e.namespaces.store["shop"] = {"team": "a", "kubernetes.io/metadata.name": "shop"}  # type: ignore[union-attr]


def add(e: KubeEnricher, pod: PodMeta) -> None:
    e.pods.store[f"{pod.namespace}/{pod.name}"] = pod  # type: ignore[union-attr]
    e._pod_added(f"{pod.namespace}/{pod.name}", pod)


def ctx_for(pod: str = "web-5d9c-x", container: str = "app", run: int = 0) -> PlanSlot:
    path = f"/var/log/pods/shop_{pod}_{UID}/{container}/{run}.log"
    return PlanSlot(path_plan(path, path, host_name="node-1", node_name="node-1", fmt="cri"))


async def resolved(e: KubeEnricher, slot: PlanSlot) -> FilePlan:
    await e.resolve(slot)
    return slot.latest()


async def test_resolve_enriches_with_labels_workload_and_plan() -> None:
    e, _ = enricher()
    wired(e)
    add(e, pod_meta(api_pod()))
    ctx = await resolved(e, ctx_for())
    k = ctx.fields["kubernetes"]
    assert k["labels"] == {"app": "web", "app_kubernetes_io/name": "web", "pod-template-hash": "5d9c"}
    assert k["namespace_labels"] == {"team": "a", "kubernetes_io/metadata_name": "shop"}
    # The ReplicaSet cannot be read here: its Deployment comes from the pod-template-hash suffix.
    assert k["replicaset"] == {"name": "web-5d9c"} and k["deployment"] == {"name": "web"}
    assert ctx.fields["container"] == {"name": "app", "image": {"name": "registry.local/web:1"}, "id": "abc123"}
    assert ctx.data_stream is None
    proc = PlanProcessor(ctx.settings)
    out = proc.process([(0, b"ts", b"stdout", b'{"level":"WARN","msg":"hi"}', 0, None)])
    assert out[0][3] == b"hi" and out[0][5] == {"log": {"level": "warn"}}


async def test_annotation_change_publishes_a_new_plan_for_the_open_file() -> None:
    e, dropped = enricher()
    wired(e)
    add(e, pod_meta(api_pod()))
    slot = ctx_for()
    before = await resolved(e, slot)
    proc = PlanProcessor(before.settings, dropped=dropped)
    changed = pod_meta(api_pod(resourceVersion="8", annotations={"observe.io/logs.app.index": "payments",
                                                                  "observe.io/logs.app.tags": "team=pay"}))
    add(e, changed)
    for task in list(e._tasks):
        await task
    ctx = slot.take()
    assert ctx is not None and ctx is not before and before.data_stream is None  # plans are never mutated
    assert ctx.data_stream == "logs-payments-default"
    assert ctx.fields["labels"] == {"team": "pay"}
    proc.settings = ctx.settings  # what the reader does between chunks
    rec: Event = (0, b"ts", b"stdout", b'{"msg":"raw now"}', 0, None)
    assert proc.process([rec]) == [rec]  # the format annotation is gone
    add(e, pod_meta(api_pod(resourceVersion="9", annotations={"observe.io/logs.app": "false"})))
    for task in list(e._tasks):
        await task
    proc.settings = slot.latest().settings
    assert proc.process([rec, rec]) == []
    assert dropped.labels("excluded", "true")._value.get() == 2


async def test_invalid_annotation_is_counted_once_per_value() -> None:
    e, _ = enricher()
    wired(e)
    bad = pod_meta(api_pod(annotations={"observe.io/logs.app.multiline": "cobol"}))
    add(e, bad)
    add(e, pod_meta(api_pod(resourceVersion="8", annotations={"observe.io/logs.app.multiline": "cobol"}, labels={"x": "1"})))
    value = e.metrics.annotation_errors.labels("shop", "web-5d9c-x", "observe.io/logs.app.multiline")._value.get()
    assert value == 1


async def test_deleted_pod_resolves_within_grace_then_expires() -> None:
    e, _ = enricher(deleted_grace_seconds=60)
    wired(e)
    pod = pod_meta(api_pod())
    add(e, pod)
    del e.pods.store["shop/web-5d9c-x"]  # type: ignore[union-attr]
    e._pod_deleted("shop/web-5d9c-x", pod)
    ctx = await resolved(e, ctx_for(container="app"))
    assert ctx.fields["kubernetes"]["labels"]["app"] == "web"
    pod.deleted_at = time.monotonic() - 61
    e._expire()
    late = await resolved(e, ctx_for())
    assert "labels" not in late.fields["kubernetes"]  # path-derived only


async def test_unknown_pod_ships_path_metadata_then_upgrades_when_it_appears() -> None:
    e, _ = enricher()
    wired(e)
    slot = ctx_for()
    ctx = await resolved(e, slot)
    assert ctx.fields["kubernetes"] == {"namespace": "shop", "pod": {"name": "web-5d9c-x", "uid": UID},
                                       "container": {"restart_count": 0}, "node": {"name": "node-1"}}
    add(e, pod_meta(api_pod()))
    for task in list(e._tasks):
        await task
    assert slot.latest().fields["kubernetes"]["deployment"] == {"name": "web"} and slot.latest() is not ctx


async def test_empty_dir_file_resolves_to_its_declared_stream() -> None:
    e, _ = enricher(kubelet_root="/k")
    wired(e)
    add(e, pod_meta(api_pod(annotations={"observe.io/logs.audit": "/var/log/app/audit-*.log",
                                         "observe.io/logs.audit.index": "logs-app.audit-default"})))
    glob = f"/k/pods/{UID}/volumes/kubernetes.io~empty-dir/logs/audit-*.log"
    assert e.extra_paths() == [glob]
    path = glob.replace("*", "1")
    ctx = await resolved(e, PlanSlot(path_plan(path, path, host_name="node-1", node_name="node-1", fmt="plain")))
    assert ctx.data_stream == "logs-app.audit-default"
    assert ctx.fields["kubernetes"]["pod"]["name"] == "web-5d9c-x" and ctx.fields["container"]["name"] == "app"


async def test_metadata_off_still_applies_default_multiline() -> None:
    e = KubeEnricher(None, CollectorRegistry(), node_name=None, default_multiline="java")
    ctx = await resolved(e, ctx_for())
    assert e.readiness() == (True, "kubernetes metadata off")
    proc = PlanProcessor(ctx.settings)
    lines = traces.DUBBO.split("\n")
    recs: list[Event] = [(i * 100, b"ts", b"stdout", line.encode(), 0, None) for i, line in enumerate(lines)]
    assert proc.process(recs) == []
    assert proc.pending_offset() == 0
    [merged] = proc.flush(time.monotonic(), True)
    assert merged[0] == 0 and merged[3].decode() == traces.DUBBO
    assert merged[5] is not None and merged[5]["error"]["type"] == "org.apache.dubbo.rpc.RpcException"
    assert proc.pending_offset() is None


def test_processor_flags_parse_failures_and_splits() -> None:
    proc = PlanProcessor(Settings(parser="json"))
    [rec] = proc.process([(5, b"ts", b"stdout", b"not json", 0, None)])
    assert rec[4] & FLAG_PARSE_FAILED and rec[3] == b"not json"
    proc = PlanProcessor(Settings(multiline="java"), max_lines=3)
    lines = traces.DUBBO.split("\n")
    out = proc.process([(i, b"ts", b"stdout", x.encode(), 0, None) for i, x in enumerate(lines)])
    out += proc.flush(0, True)
    assert all(r[4] & FLAG_MULTILINE_SPLIT for r in out)
    assert b"\n".join(r[3] for r in out).decode() == traces.DUBBO


def restarted(run: int, cid: str, state: str = "running") -> dict[str, Any]:
    """The pod once its container restarted `run` times, the status naming container `cid` in `state`."""
    pod = api_pod(resourceVersion=str(10 + run))
    pod["status"]["containerStatuses"][0].update(containerID=f"containerd://{cid}", restartCount=run, state={state: {}})
    return pod


async def test_each_run_of_a_restarted_container_gets_its_own_id_or_none() -> None:
    """The status names only the current container: an earlier run's file never ships under the new run's id."""
    e, _ = enricher()
    wired(e)
    add(e, pod_meta(restarted(1, "run1")))
    assert (await resolved(e, ctx_for(run=1))).fields["container"]["id"] == "run1"
    # 0.log read after the restart (a shipper restart, a slow reader): its run is not in the status.
    assert "id" not in (await resolved(e, ctx_for(run=0))).fields["container"]
    # 2.log opened before the status caught up with the second restart: no id rather than run 1's.
    slot = ctx_for(run=2)
    assert "id" not in (await resolved(e, slot)).fields["container"]
    add(e, pod_meta(restarted(2, "run2")))
    for task in list(e._tasks):
        await task
    assert slot.latest().fields["container"]["id"] == "run2"
    # A crashed container waiting in back-off: its status id is of a dead run, not of a file's attempt for sure.
    add(e, pod_meta(restarted(2, "run2", state="terminated")))
    assert "id" not in (await resolved(e, ctx_for(run=3))).fields["container"]


async def test_the_file_names_own_container_id_wins_over_the_status() -> None:
    """/var/log/containers/<pod>_<ns>_<container>-<id>.log names the container that wrote it (the default glob)."""
    e, _ = enricher()
    wired(e)
    add(e, pod_meta(restarted(1, "b" * 64)))
    real = f"/var/log/pods/shop_web-5d9c-x_{UID}/app/0.log"
    link = f"/var/log/containers/web-5d9c-x_shop_app-{'a' * 64}.log"
    plan = await resolved(e, PlanSlot(path_plan(link, real, host_name="node-1", node_name="node-1", fmt="cri")))
    assert plan.fields["container"]["id"] == "a" * 64
    assert plan.fields["kubernetes"]["container"] == {"restart_count": 0}


def test_a_pod_the_metadata_reader_raises_on_is_counted_on_the_shippers_metrics() -> None:
    """The shipper's pods reflector with its real transform (pod_meta): an object it can't read (here a container
    without a name, which it indexes) is left out and counted as observe_shipper_kube_object_errors_total, instead of
    stopping the node's pod metadata."""
    from prometheus_client import generate_latest

    from observe.kube.reflector import PODS, Reflector

    registry = CollectorRegistry()
    e = KubeEnricher(None, registry, node_name="node-1")  # type: ignore[arg-type]
    e.pods = Reflector(None, PODS, transform=pod_meta)  # type: ignore[arg-type]
    good = {"metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "1"},
            "spec": {"containers": [{"name": "app"}]}}
    bad = {"metadata": {"name": "odd", "namespace": "shop", "uid": "u2", "resourceVersion": "2"},
           "spec": {"containers": [{"image": "x"}]}}
    for obj in (bad, good):
        e.pods._apply({"type": "ADDED", "object": obj})
    assert set(e.pods.store) == {"shop/web"}
    text = generate_latest(registry).decode()
    assert 'observe_shipper_kube_object_errors_total{resource="pods"} 1.0' in text
