"""LIST pages in the Kubernetes protobuf encoding, decoded by upb and turned into the dicts the JSON API gives.

Why: at 150,000 pods the API server spent 1.26x kube-state-metrics' CPU serving our JSON LIST pages, and most of
its cost is encoding. Encoding protobuf costs it about half (one client, 50,000 pods, unpaged: 0.7-0.8 CPU s
against 1.3 s for JSON); see docs/scaling.md.

No maintained Python package carries the Kubernetes types, and the Go module's generated.proto is not ours to
copy. So this module declares only the fields the cluster exporter reads, by the names and field numbers of the
Kubernetes API (k8s.io/api core/v1 and apps/v1, k8s.io/apimachinery meta/v1, v0.37): a message declared here with
fewer fields parses any newer object, the rest stays unknown. `tests/unit/kube/test_protobuf.py` checks every
declared field against upstream's generated.proto, and the real-API-server test renders the same pods from
both encodings and compares the series.

The wire format of a response: the 4 bytes `k8s\\0`, then a runtime.Unknown whose `raw` is the list message.
Field names are the JSON names, so `to_dict` gives what orjson would have, with these differences, all of which
the exporter's renderers treat alike: a Go field that JSON omits when empty (omitempty) is present in protobuf
with its zero value ("" or 0 or false); a zero time (JSON null) is left out.
"""

from __future__ import annotations

import time
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory
from google.protobuf.descriptor import FieldDescriptor

MAGIC = b"k8s\x00"
# As client-go asks: protobuf, and JSON from a server that can't encode the type in protobuf (e.g. a custom resource).
ACCEPT = "application/vnd.kubernetes.protobuf, application/json"
PACKAGE = "observe.k8s"

# message -> its fields as "name=number:type"; a type is a scalar (string, bool, int32, int64, bytes), another
# message here, `[]T` for repeated, or `map<T>` for a map with string keys. Names and numbers are the API's.
MESSAGES: dict[str, str] = {
    # k8s.io/apimachinery/pkg/runtime
    "TypeMeta": "apiVersion=1:string kind=2:string",
    "Unknown": "typeMeta=1:TypeMeta raw=2:bytes contentEncoding=3:string contentType=4:string",
    # k8s.io/apimachinery/pkg/api/resource and pkg/util/intstr
    "Quantity": "string=1:string",
    "IntOrString": "type=1:int64 intVal=2:int32 strVal=3:string",
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "Time": "seconds=1:int64 nanos=2:int32",
    "ListMeta": "resourceVersion=2:string continue=3:string remainingItemCount=4:int64",
    "OwnerReference": "apiVersion=5:string kind=1:string name=3:string uid=4:string controller=6:bool",
    "ObjectMeta": ("name=1:string namespace=3:string uid=5:string resourceVersion=6:string generation=7:int64 "
                   "creationTimestamp=8:Time labels=11:map<string> "
                   "annotations=12:map<string> ownerReferences=13:[]OwnerReference"),
    "Status": "status=2:string message=3:string reason=4:string code=6:int32",
    # k8s.io/api/core/v1
    "ResourceRequirements": "limits=1:map<Quantity> requests=2:map<Quantity>",
    "Container": "name=1:string image=2:string resources=8:ResourceRequirements",
    "PodSpec": "containers=2:[]Container nodeName=10:string hostNetwork=11:bool priorityClassName=24:string",
    "PodCondition": "type=1:string status=2:string reason=5:string",
    "ContainerStateWaiting": "reason=1:string",
    "ContainerStateTerminated": "reason=3:string",
    "ContainerState": "waiting=1:ContainerStateWaiting terminated=3:ContainerStateTerminated",
    "ContainerStatus": ("name=1:string state=2:ContainerState lastState=3:ContainerState ready=4:bool "
                        "restartCount=5:int32 image=6:string imageID=7:string containerID=8:string"),
    "PodStatus": ("phase=1:string conditions=2:[]PodCondition reason=4:string hostIP=5:string podIP=6:string "
                  "startTime=7:Time containerStatuses=8:[]ContainerStatus"),
    "Pod": "metadata=1:ObjectMeta spec=2:PodSpec status=3:PodStatus",
    "PodList": "metadata=1:ListMeta items=2:[]Pod",
    # k8s.io/api/apps/v1
    "ReplicaSet": "metadata=1:ObjectMeta",
    "ReplicaSetList": "metadata=1:ListMeta items=2:[]ReplicaSet",
    "DeploymentSpec": "replicas=1:int32",
    "DeploymentCondition": "type=1:string status=2:string reason=4:string",
    "DeploymentStatus": ("observedGeneration=1:int64 replicas=2:int32 updatedReplicas=3:int32 readyReplicas=7:int32 "
                         "availableReplicas=4:int32 unavailableReplicas=5:int32 conditions=6:[]DeploymentCondition"),
    "Deployment": "metadata=1:ObjectMeta spec=2:DeploymentSpec status=3:DeploymentStatus",
    "DeploymentList": "metadata=1:ListMeta items=2:[]Deployment",
}

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"string": _F.TYPE_STRING, "bool": _F.TYPE_BOOL, "int32": _F.TYPE_INT32, "int64": _F.TYPE_INT64,
            "bytes": _F.TYPE_BYTES}


def parse_fields(spec: str) -> list[tuple[str, int, str]]:
    """"a=1:string b=2:[]X" -> [("a", 1, "string"), ("b", 2, "[]X")]."""
    out = []
    for item in spec.split():
        name, rest = item.split("=", 1)
        number, kind = rest.split(":", 1)
        out.append((name, int(number), kind))
    return out


def _field(msg: descriptor_pb2.DescriptorProto, name: str, number: int, kind: str) -> None:
    f = msg.field.add(name=name, number=number, json_name=name)
    f.label = _F.LABEL_OPTIONAL
    if kind.startswith("map<"):
        value = kind[4:-1]
        entry = msg.nested_type.add(name=name[0].upper() + name[1:] + "Entry")
        entry.options.map_entry = True
        _field(entry, "key", 1, "string")
        _field(entry, "value", 2, value)
        f.label = _F.LABEL_REPEATED
        f.type = _F.TYPE_MESSAGE
        f.type_name = f".{PACKAGE}.{msg.name}.{entry.name}"
        return
    if kind.startswith("[]"):
        f.label = _F.LABEL_REPEATED
        kind = kind[2:]
    if kind in _SCALARS:
        f.type = _SCALARS[kind]
    else:
        f.type = _F.TYPE_MESSAGE
        f.type_name = f".{PACKAGE}.{kind}"


def _build() -> dict[str, Any]:
    proto = descriptor_pb2.FileDescriptorProto(name="observe/k8s.proto", package=PACKAGE, syntax="proto2")
    messages = dict(MESSAGES)
    # An envelope per answer kind (each list, and Status for errors): runtime.Unknown with `raw` declared as that
    # message rather than bytes (the same bytes on the wire), so an answer is parsed in one pass, without copying
    # it out of the envelope first.
    for name in [n for n in MESSAGES if n.endswith("List") or n == "Status"]:
        messages[name + "Envelope"] = MESSAGES["Unknown"].replace("raw=2:bytes", f"raw=2:{name}")
    for name, spec in messages.items():
        msg = proto.message_type.add(name=name)
        for field_name, number, kind in parse_fields(spec):
            _field(msg, field_name, number, kind)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))
            for name in messages}


CLASSES = _build()

# Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds: JSON writes it as null.
_ZERO_TIME = -62135596800


def decode(kind: str, body: bytes) -> Any:
    """Parse an answer holding a `kind` (e.g. "PodList", "Status") into its upb message; ValueError when the body is
    not Kubernetes protobuf or does not parse."""
    if not body.startswith(MAGIC):
        raise ValueError("not a Kubernetes protobuf body (no k8s\\0 prefix)")
    envelope = CLASSES[kind + "Envelope"]()
    try:
        envelope.ParseFromString(memoryview(body)[len(MAGIC):])
    except message.DecodeError as exc:
        raise ValueError(f"a {kind} in protobuf that does not parse: {exc}") from None
    if envelope.contentEncoding:
        raise ValueError(f"unsupported protobuf content encoding {envelope.contentEncoding!r}")
    return envelope.raw


def status_message(body: bytes) -> str:
    """The message of an error answer (a meta/v1 Status) in protobuf; "" when it is not one."""
    try:
        return str(decode("Status", body).message)
    except ValueError:  # an error body that is not a Status: say nothing, don't fail twice
        return ""


# Unix seconds -> RFC 3339, for the few distinct times a cluster's objects carry (creation and start times repeat
# within a rollout); cleared when full, so it stays small.
_TIMES: dict[int, str | None] = {}


def _rfc3339(t: Any) -> str | None:
    seconds = t.seconds
    try:
        return _TIMES[seconds]
    except KeyError:
        pass
    if len(_TIMES) > 50_000:
        _TIMES.clear()
    text = None if seconds == _ZERO_TIME else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
    _TIMES[seconds] = text
    return text


def _quantity(q: Any) -> str:
    return str(q.string)


def _int_or_string(v: Any) -> int | str:
    return int(v.intVal) if v.type == 0 else str(v.strVal)


def _quantities(m: Any) -> dict[str, str]:
    return {k: v.string for k, v in m.items()}


def _messages(items: Any) -> list[dict[str, Any]]:
    return [to_dict(v) for v in items]


_SPECIAL = {"Time": _rfc3339, "Quantity": _quantity, "IntOrString": _int_or_string}

# Per field descriptor: its JSON name and how to turn its value into JSON's form (None: as it is). Built on first
# sight of each field. The per-field loop below is the cost of a protobuf page for us (about 10 us per pod), so it
# does one dict lookup per field and calls no closure for the common cases.
_PLAN: dict[Any, tuple[str, Any]] = {}


def _plan(fd: FieldDescriptor) -> tuple[str, Any]:
    if fd.type != FieldDescriptor.TYPE_MESSAGE:
        return fd.name, (list if fd.is_repeated else None)
    desc = fd.message_type
    assert desc is not None  # a message field
    if desc.GetOptions().map_entry:
        value = desc.fields_by_name["value"].message_type
        if value is None:
            return fd.name, dict
        if value.name == "Quantity":
            return fd.name, _quantities
        special = _SPECIAL.get(value.name)
        if special is not None:
            return fd.name, lambda m, s=special: {k: s(v) for k, v in m.items()}
        return fd.name, lambda m: {k: to_dict(v) for k, v in m.items()}
    special = _SPECIAL.get(desc.name)
    if fd.is_repeated:
        return fd.name, (_messages if special is None else lambda items, c=special: [c(v) for v in items])
    return fd.name, (special or to_dict)


def to_dict(msg: Any) -> dict[str, Any]:
    """The JSON-shaped dict of a decoded message: only the fields set on the wire, by their JSON names."""
    out: dict[str, Any] = {}
    plan = _PLAN
    for fd, value in msg.ListFields():
        entry = plan.get(fd)
        if entry is None:
            entry = plan[fd] = _plan(fd)
        name, convert = entry
        if convert is None:
            out[name] = value
        else:
            value = convert(value)
            if value is not None:
                out[name] = value
    return out
