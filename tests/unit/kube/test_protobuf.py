"""observe/kube/protobuf.py without a server: the envelope, the JSON-shaped dicts, and the errors.

Messages are built with the module's own classes and serialized, so these tests pin the conversion; the field
numbers are checked against upstream's generated.proto in tests/integration/kube/test_protobuf_schema.py, and the
real API server's answers in tests/integration/exporters/test_cluster_exporter.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from observe.kube import protobuf as pb
from observe.kube.reflector import PODS, Reflector


def envelope(msg: Any, kind: str = "PodList") -> bytes:
    unknown = pb.CLASSES["Unknown"]()
    unknown.typeMeta.apiVersion = "v1"
    unknown.typeMeta.kind = kind
    unknown.raw = msg.SerializeToString()
    return pb.MAGIC + unknown.SerializeToString()


def sample_list() -> Any:
    pods = pb.CLASSES["PodList"]()
    pods.metadata.resourceVersion = "42"
    setattr(pods.metadata, "continue", "token")
    pod = pods.items.add()
    md = pod.metadata
    md.name, md.namespace, md.uid, md.resourceVersion = "web-1", "shop", "u-1", "41"
    md.creationTimestamp.seconds = 1_714_557_600  # 2024-05-01T10:00:00Z
    md.labels["app"] = "web"
    md.labels["tier"] = "front"
    ref = md.ownerReferences.add()
    ref.kind, ref.name, ref.controller = "ReplicaSet", "web", True
    c = pod.spec.containers.add()
    c.name, c.image = "app", "registry.local/app:1"
    c.resources.requests["cpu"].string = "100m"
    c.resources.requests["memory"].string = "64Mi"
    c.resources.limits["memory"].string = "128Mi"
    pod.spec.nodeName = "n1"
    pod.spec.hostNetwork = False  # Go writes zero values: present with its zero, where JSON omits it
    st = pod.status
    st.phase = "Running"
    st.startTime.seconds = -62_135_596_800  # Go's zero time: JSON says null, so the key is left out
    cond = st.conditions.add()
    cond.type, cond.status = "Ready", "True"
    cs = st.containerStatuses.add()
    cs.name, cs.ready, cs.restartCount = "app", True, 3
    cs.state.waiting.reason = "CrashLoopBackOff"
    cs.lastState.terminated.reason = "Error"
    pods.items.add().metadata.name = "bare"
    return pods


def test_a_list_decodes_to_the_dicts_json_gives() -> None:
    msg = pb.decode("PodList", envelope(sample_list()))
    assert msg.metadata.resourceVersion == "42" and getattr(msg.metadata, "continue") == "token"
    first, bare = (pb.to_dict(item) for item in msg.items)
    assert first == {
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "resourceVersion": "41",
                     "creationTimestamp": "2024-05-01T10:00:00Z", "labels": {"app": "web", "tier": "front"},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "web", "controller": True}]},
        "spec": {"containers": [{"name": "app", "image": "registry.local/app:1",
                                 "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}}}],
                 "nodeName": "n1", "hostNetwork": False},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [{"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                          "lastState": {"terminated": {"reason": "Error"}},
                                          "ready": True, "restartCount": 3}]},
    }
    assert bare == {"metadata": {"name": "bare"}}


def test_fields_not_declared_are_skipped_not_fatal() -> None:
    # A newer server's pod with a field this module does not declare (PodSpec.hostPID is field 12): parsed, ignored.
    raw = sample_list().SerializeToString()
    pod_list = pb.CLASSES["PodList"]()
    pod_list.ParseFromString(raw)
    extra = pod_list.items[0].spec
    extra_bytes = extra.SerializeToString() + bytes([12 << 3 | 0, 1])  # field 12, varint, true
    extra.Clear()
    extra.ParseFromString(extra_bytes)
    assert pb.to_dict(pod_list.items[0])["spec"]["nodeName"] == "n1"


def test_int_or_string_and_quantities() -> None:
    value = pb.CLASSES["IntOrString"]()
    value.type, value.intVal = 0, 8080
    assert pb._int_or_string(value) == 8080
    value.type, value.strVal = 1, "http"
    assert pb._int_or_string(value) == "http"


def test_not_protobuf_and_broken_bodies_raise_value_error() -> None:
    with pytest.raises(ValueError, match="no k8s"):
        pb.decode("PodList", b'{"kind": "PodList"}')
    with pytest.raises(ValueError, match="does not parse"):
        pb.decode("PodList", pb.MAGIC + b"\x0a\xff\xff\xff")
    good = envelope(sample_list())
    with pytest.raises(ValueError, match="does not parse"):
        pb.decode("PodList", good[:-7])


def test_an_error_status_in_protobuf_gives_its_message() -> None:
    status = pb.CLASSES["Status"]()
    status.status, status.message, status.reason, status.code = "Failure", "pods is forbidden", "Forbidden", 403
    assert pb.status_message(envelope(status, "Status")) == "pods is forbidden"
    assert pb.status_message(b"garbage") == ""


class PagesClient:
    """get_bytes answers from a list of bodies, recording the Accept header asked for."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.bodies = bodies
        self.accepts: list[str | None] = []
        self.limits: list[str] = []

    async def get_bytes(self, path: str, *, params: Any = None, seconds: float = 60.0, accept: str | None = None) -> bytes:
        self.accepts.append(accept)
        self.limits.append(params["limit"])
        return self.bodies.pop(0)


async def test_the_reflector_reads_protobuf_pages_and_json_when_the_server_answers_json() -> None:
    one = sample_list()
    setattr(one.metadata, "continue", "next")
    json_page = b'{"metadata": {"resourceVersion": "43"}, "items": [{"metadata": {"name": "j", "namespace": "s"}}]}'
    client = PagesClient([envelope(one), json_page])
    added: list[str] = []
    r: Reflector[Any] = Reflector(client, PODS, protobuf="PodList", on_add=lambda k, o: added.append(k))  # type: ignore[arg-type]
    await r._list()
    assert client.accepts == [pb.ACCEPT, pb.ACCEPT]
    assert client.limits == ["4000", "4000"]  # protobuf pages are larger: the API server pays per page
    assert added == ["shop/web-1", "bare", "s/j"]
    assert r.pages == {"protobuf": 1, "json": 1} and r.resource_version == "43"
    assert r.store["shop/web-1"]["status"]["containerStatuses"][0]["restartCount"] == 3


async def test_with_transform_message_protobuf_items_are_rendered_as_messages_and_json_items_as_dicts(
        caplog: pytest.LogCaptureFixture) -> None:
    """No dict is built for a protobuf item when the consumer renders messages; a JSON page (the server's choice)
    still goes to `transform`. Keys and versions are read from the message, so a relist skips unchanged objects
    before rendering them, and a message the renderer raises on is left out and logged, as a dict would be."""
    one = sample_list()
    setattr(one.metadata, "continue", "next")
    json_page = b'{"metadata": {"resourceVersion": "43"}, "items": [{"metadata": {"name": "j", "namespace": "s"}}]}'
    seen: list[tuple[str, str]] = []

    def from_message(msg: Any) -> str:
        if msg.metadata.name == "bare" and len(seen) > 10:
            raise ValueError("a renderer bug")
        seen.append(("message", msg.metadata.name))
        return f"m:{msg.metadata.name}"

    def from_dict(obj: dict[str, Any]) -> str:
        seen.append(("dict", obj["metadata"]["name"]))
        return f"d:{obj['metadata']['name']}"

    r: Reflector[str] = Reflector(PagesClient([envelope(one), json_page]), PODS, protobuf="PodList",  # type: ignore[arg-type]
                                  transform=from_dict, transform_message=from_message)
    await r._list()
    assert seen == [("message", "web-1"), ("message", "bare"), ("dict", "j")]
    assert r.store == {"shop/web-1": "m:web-1", "bare": "m:bare", "s/j": "d:j"}

    seen.extend([("", "")] * 10)  # from now on "bare" fails to render
    again = sample_list()
    setattr(again.metadata, "continue", "")
    again.items[1].metadata.resourceVersion = "99"  # "bare" changed, "web-1" did not; "s/j" is gone
    r.client = PagesClient([envelope(again)])  # type: ignore[assignment]
    await r._list()
    assert len(seen) == 13  # nothing rendered: web-1 unchanged (skipped by version), bare raised
    assert "bare" not in r and r.object_errors == 1 and set(r.store) == {"shop/web-1"}
    assert any(rec.__dict__.get("kubernetes.object") == "bare" for rec in caplog.records)


async def test_a_shard_skips_other_shards_pods_in_protobuf_pages() -> None:
    last = sample_list()
    setattr(last.metadata, "continue", "")
    client = PagesClient([envelope(last)])
    r: Reflector[Any] = Reflector(client, PODS, protobuf="PodList", owns=lambda uid: uid == "u-1")  # type: ignore[arg-type]
    await r._list()
    assert list(r.store) == ["shop/web-1"]


async def test_without_protobuf_the_reflector_asks_for_json() -> None:
    client = PagesClient([b'{"metadata": {"resourceVersion": "1"}, "items": []}'])
    r: Reflector[Any] = Reflector(client, PODS)  # type: ignore[arg-type]
    await r._list()
    assert client.accepts == [None] and r.pages == {"protobuf": 0, "json": 1}
    assert client.limits == ["2000"]


def test_the_exporters_protobuf_kinds_are_declared() -> None:
    from exporters.cluster.kinds import KINDS

    proto = {name: kind.protobuf for name, kind in KINDS.items() if kind.protobuf}
    assert proto == {"pods": "PodList", "replicasets": "ReplicaSetList", "deployments": "DeploymentList"}
    for message in proto.values():
        assert pb.CLASSES[message].DESCRIPTOR.fields_by_name["items"].is_repeated

