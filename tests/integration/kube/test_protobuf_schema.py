"""Every field observe/kube/protobuf.py declares matches upstream's generated.proto: name, number, type, repeated.

The oracle is the Kubernetes API's own schema, k8s.io/api and k8s.io/apimachinery at the version the kube peer
builds (from the Go module proxy, as that build fetches them). A wrong field number would decode another field's
bytes silently; this test fails instead.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from observe.kube import protobuf as pb
from tests.peers import kube
from tests.peers.gobuild import go_env

# Which upstream file defines each message we declare (TypeMeta is runtime's, not meta/v1's: it is Unknown's).
SOURCES = {"TypeMeta": "runtime", "Unknown": "runtime", "Quantity": "resource", "IntOrString": "intstr",
           "Time": "meta", "ListMeta": "meta", "OwnerReference": "meta", "ObjectMeta": "meta", "Status": "meta"}
FILES = {"core": ("k8s.io/api", "core/v1"), "apps": ("k8s.io/api", "apps/v1"),
         "meta": ("k8s.io/apimachinery", "pkg/apis/meta/v1"),
         "runtime": ("k8s.io/apimachinery", "pkg/runtime"), "resource": ("k8s.io/apimachinery", "pkg/api/resource"),
         "intstr": ("k8s.io/apimachinery", "pkg/util/intstr")}
FIELD = re.compile(r"^  (?:(optional|repeated) ([\w.]+)|map<string, ([\w.]+)>) (\w+) = (\d+);", re.M)


def module_dirs() -> dict[str, Path]:
    version = "v0." + kube.VERSION.split(".", 1)[1]  # k8s.io/kubernetes v1.37.2 -> k8s.io/api v0.37.2
    mods = sorted({m for m, _ in FILES.values()})
    out = subprocess.run(["go", "mod", "download", "-json", *(f"{m}@{version}" for m in mods)], capture_output=True,
                         text=True, check=True, env={**os.environ, **go_env()}, cwd=Path.home())
    docs = json.loads("[" + out.stdout.replace("}\n{", "},{") + "]")
    return {d["Path"]: Path(d["Dir"]) for d in docs}


def upstream_messages() -> dict[str, dict[str, dict[str, tuple[int, str]]]]:
    """file key -> message -> field -> (number, our notation of its type)."""
    dirs = module_dirs()
    out: dict[str, dict[str, dict[str, tuple[int, str]]]] = {}
    for key, (mod, sub) in FILES.items():
        text = (dirs[mod] / sub / "generated.proto").read_text()
        messages: dict[str, dict[str, tuple[int, str]]] = {}
        for block in re.finditer(r"^message (\w+) \{\n(.*?)^\}", text, re.S | re.M):
            fields = {}
            for label, typ, map_value, name, number in FIELD.findall(block.group(2)):
                if map_value:
                    kind = f"map<{map_value.rsplit('.', 1)[-1]}>"
                else:
                    kind = ("[]" if label == "repeated" else "") + typ.rsplit(".", 1)[-1]
                fields[name] = (int(number), kind)
            messages[block.group(1)] = fields
        out[key] = messages
    return out


def test_every_declared_field_is_upstreams() -> None:
    upstream = upstream_messages()
    wrong = []
    for message, spec in pb.MESSAGES.items():
        source = SOURCES.get(message) or ("apps" if message.startswith(("ReplicaSet", "Deployment")) else "core")
        theirs = upstream[source].get(message)
        if theirs is None:
            wrong.append(f"{message}: no such message upstream")
            continue
        for name, number, kind in pb.parse_fields(spec):
            if theirs.get(name) != (number, kind):
                wrong.append(f"{message}.{name}: ours {(number, kind)}, upstream {theirs.get(name)}")
    assert wrong == []
    assert len(pb.MESSAGES) >= 20


def test_the_oracle_itself_sees_a_wrong_number() -> None:
    """The parse above is not vacuous: PodSpec.nodeName is 10 upstream, and 11 is hostNetwork."""
    upstream = upstream_messages()
    assert upstream["core"]["PodSpec"]["nodeName"] == (10, "string")
    assert upstream["core"]["PodSpec"]["hostNetwork"] == (11, "bool")
    assert upstream["core"]["ResourceRequirements"]["limits"] == (1, "map<Quantity>")
    assert upstream["meta"]["ObjectMeta"]["ownerReferences"] == (13, "[]OwnerReference")
