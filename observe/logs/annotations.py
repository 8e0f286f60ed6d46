"""Per-pod log configuration by annotation, in the spirit of log-pilot, plus log-pilot's own `aliyun_logs_*` env.

Annotations (on the pod):
- `observe.io/logs: "false"` excludes the pod; `observe.io/logs.<container>: "false"` excludes one container.
- `observe.io/logs.<name>: stdout` declares a stream: a container's output when <name> is a container, else the
  output of every container of the pod.
- `observe.io/logs.<name>: /path/in/container/*.log` declares files inside an emptyDir volume; the shipper reads
  them on the node under <kubelet_root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<volume>/...
- `observe.io/logs.<name>.index|tags|format|multiline` tune a stream (or a container's output when <name> is one).

Container env, for teams coming from log-pilot: `aliyun_logs_<name>=stdout|<path>`, `aliyun_logs_<name>_tags`,
`aliyun_logs_<name>_target` (the index; by default `<name>`, as log-pilot did) and `aliyun_logs_<name>_format`.

Everything here is pure: the plan is rebuilt from the pod whenever the pod changes, so an edited annotation takes
effect without a restart. An invalid key is returned as an error (the stream still ships, with defaults).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from observe.logs.multiline import MultilineSpecError, rule_for
from observe.logs.parsers import ParserSpecError, parser_for

PREFIX = "observe.io/logs"
MODIFIERS = ("index", "tags", "format", "multiline")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$")
_ALIYUN = re.compile(r"^aliyun[_.]logs[_.](?P<name>[A-Za-z0-9_-]+?)(?:[_.](?P<mod>tags|target|format))?$")
_BARE_INDEX = re.compile(r"^[a-z0-9][a-z0-9_.]*$")
_DATA_STREAM = re.compile(r"^logs-[a-z0-9][a-z0-9_.-]*-[a-z0-9_]+$")


@dataclass(frozen=True)
class Mount:
    """One volumeMount of a container."""

    path: str
    volume: str
    sub_path: str = ""


@dataclass(frozen=True)
class ContainerSpec:
    """What the plan needs of one container: its mounts and its literal `aliyun_logs_*` env."""

    name: str
    mounts: tuple[Mount, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Stream:
    """How one stream ships: target data stream (None = default), extra labels, parser and multiline specs."""

    name: str = ""
    index: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    format: str | None = None
    multiline: str | None = None


@dataclass(frozen=True)
class FileStream:
    """Files declared inside a container, as a glob on the node, with the container they belong to."""

    container: str
    host_glob: str
    container_glob: str
    stream: Stream


@dataclass(frozen=True)
class AnnotationError:
    """An invalid annotation or env entry: the key, its value and what was wrong."""

    key: str
    value: str
    reason: str


@dataclass
class Plan:
    """The log plan of one pod."""

    excluded: bool = False
    excluded_containers: set[str] = field(default_factory=set)
    containers: dict[str, Stream] = field(default_factory=dict)  # a container's own output
    pod_stream: Stream | None = None  # output of every container without its own declaration
    files: list[FileStream] = field(default_factory=list)
    errors: list[AnnotationError] = field(default_factory=list)

    def output_stream(self, container: str) -> Stream | None:
        """How a container's stdout/stderr ships; None when the pod or the container is excluded."""
        if self.excluded or container in self.excluded_containers:
            return None
        return self.containers.get(container) or self.pod_stream or Stream()


def normalize_index(value: str) -> str | None:
    """A data stream name: `logs-<dataset>-<namespace>` as given, a bare word as `logs-<word>-default`; else None."""
    if _DATA_STREAM.match(value):
        return value
    if _BARE_INDEX.match(value):
        return f"logs-{value}-default"
    return None


def parse_tags(value: str) -> tuple[tuple[str, str], ...] | None:
    """`k=v,k2=v2` as pairs (keys dedotted); None when an item has no `=` or an empty key."""
    pairs: list[tuple[str, str]] = []
    for item in value.split(","):
        if not item.strip():
            continue
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or not key:
            return None
        pairs.append((dedot(key), val.strip()))
    return tuple(pairs)


def dedot(key: str) -> str:
    """A label key safe as a field name: dots become underscores (`/` stays), as Filebeat's labels.dedot does."""
    return key.replace(".", "_")


@dataclass
class _Decl:
    source: str = ""  # "stdout" or an absolute path glob
    key: str = ""
    container: str | None = None  # set by the env path: the declaring container
    index: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    format: str | None = None
    multiline: str | None = None


def build_plan(
    *,
    uid: str,
    annotations: Mapping[str, str],
    containers: list[ContainerSpec],
    empty_dirs: set[str],
    kubelet_root: str = "/var/lib/kubelet",
) -> Plan:
    """The pod's log plan from its annotations and its containers' `aliyun_logs_*` env."""
    plan = Plan()
    names = {c.name for c in containers}
    decls: dict[str, _Decl] = {}
    # The env path first, so an annotation for the same name wins.
    for c in containers:
        _read_env(c, decls, plan)
    mods: list[tuple[str, str, str, str]] = []
    for key in sorted(annotations):
        if key != PREFIX and not key.startswith(PREFIX + "."):
            continue
        value = annotations[key]
        if key == PREFIX:
            if value.strip().lower() == "false":
                plan.excluded = True
            elif value.strip().lower() != "true":
                plan.errors.append(AnnotationError(key, value, 'expected "true" or "false"'))
            continue
        rest = key[len(PREFIX) + 1:]
        name, _, mod = rest.partition(".")
        if not _NAME.match(name):
            plan.errors.append(AnnotationError(key, value, f"stream name {name!r} must be lowercase letters, digits, - or _"))
            continue
        if mod:
            mods.append((key, name, mod, value))
            continue
        v = value.strip()
        if v.lower() in ("false", "true"):
            if name not in names:
                plan.errors.append(AnnotationError(key, value, f"the pod has no container named {name!r}"))
            elif v.lower() == "false":
                plan.excluded_containers.add(name)
        elif v == "stdout" or v.startswith("/"):
            decls[name] = _Decl(source=v, key=key)
        else:
            plan.errors.append(AnnotationError(key, value, 'expected "stdout", an absolute path in the container, or "false"'))
    for key, name, mod, value in mods:
        decl = decls.get(name)
        if decl is None:
            if name not in names:
                plan.errors.append(AnnotationError(key, value, f"no stream {name!r} is declared and no container has that name"))
                continue
            decl = decls[name] = _Decl(source="stdout", key=key)
        _apply_modifier(decl, key, mod, value, plan)
    for name, decl in decls.items():
        stream = Stream(name=name, index=decl.index, tags=decl.tags, format=decl.format, multiline=decl.multiline)
        if decl.source == "stdout":
            owner = decl.container or (name if name in names else None)
            if owner is not None:
                plan.containers[owner] = stream
            elif plan.pod_stream is None:
                plan.pod_stream = stream
            else:
                plan.errors.append(AnnotationError(decl.key, decl.source,
                                                   f"stream {plan.pod_stream.name!r} already takes the pod's output"))
            continue
        search = [c for c in containers if c.name == (decl.container or name)] or containers
        found = _resolve_file(decl.source, search, empty_dirs, uid, kubelet_root)
        if isinstance(found, str):
            plan.errors.append(AnnotationError(decl.key, decl.source, found))
            continue
        container, host_glob = found
        plan.files.append(FileStream(container, host_glob, decl.source, stream))
    return plan


def _apply_modifier(decl: _Decl, key: str, mod: str, value: str, plan: Plan) -> None:
    if mod == "index":
        index = normalize_index(value.strip())
        if index is None:
            expected = "expected a data stream name logs-<dataset>-<namespace> or a lowercase word"
            plan.errors.append(AnnotationError(key, value, expected))
        else:
            decl.index = index
    elif mod == "tags":
        tags = parse_tags(value)
        if tags is None:
            plan.errors.append(AnnotationError(key, value, 'expected "key=value,key2=value2"'))
        else:
            decl.tags = tags
    elif mod == "format":
        try:
            parser_for(value.strip())
            decl.format = value.strip()
        except ParserSpecError as exc:
            plan.errors.append(AnnotationError(key, value, str(exc)))
    elif mod == "multiline":
        try:
            if value.strip() == "none":
                raise MultilineSpecError("none is the default; remove the annotation instead")
            rule_for(value.strip())
            decl.multiline = value.strip()
        except MultilineSpecError as exc:
            plan.errors.append(AnnotationError(key, value, str(exc)))
    else:
        plan.errors.append(AnnotationError(key, value, f"unknown setting {mod!r}; expected one of {', '.join(MODIFIERS)}"))


def _read_env(c: ContainerSpec, decls: dict[str, _Decl], plan: Plan) -> None:
    mods: list[tuple[str, str, str, str]] = []
    for key, value in c.env:
        m = _ALIYUN.match(key)
        if not m:
            continue
        name = m["name"].lower()
        if m["mod"]:
            mods.append((key, name, m["mod"], value))
            continue
        v = value.strip()
        if v != "stdout" and not v.startswith("/"):
            plan.errors.append(AnnotationError(f"env {c.name}/{key}", value, 'expected "stdout" or an absolute path'))
            continue
        # log-pilot used the name as the index unless _target says otherwise.
        decls[f"{c.name}/{name}"] = _Decl(source=v, key=f"env {c.name}/{key}", container=c.name,
                                          index=normalize_index(name.replace("-", "_")))
    for key, name, mod, value in mods:
        decl = decls.get(f"{c.name}/{name}")
        if decl is None:
            plan.errors.append(AnnotationError(f"env {c.name}/{key}", value, f"no aliyun_logs_{name} stream is declared"))
            continue
        _apply_modifier(decl, f"env {c.name}/{key}", "index" if mod == "target" else mod, value, plan)


def _resolve_file(
    path: str, containers: list[ContainerSpec], empty_dirs: set[str], uid: str, kubelet_root: str
) -> tuple[str, str] | str:
    """(container, host glob) for a path inside a container's emptyDir mount, or the reason it cannot be read."""
    norm = posixpath.normpath(path)
    if not norm.startswith("/") or ".." in PurePosixPath(norm).parts:
        return "expected an absolute path without `..`"
    best: tuple[int, ContainerSpec, Mount] | None = None
    for c in containers:
        for m in c.mounts:
            mount = m.path.rstrip("/") or "/"
            if norm == mount or norm.startswith(mount + "/"):
                if best is None or len(mount) > best[0]:
                    best = (len(mount), c, m)
    if best is None:
        return "the path is not under any volumeMount of the pod; declare an emptyDir volume mounted there"
    _, container, found = best
    if found.volume not in empty_dirs:
        return f"the path is in volume {found.volume!r}, which is not an emptyDir; only emptyDir files can be read on the node"
    rel = norm[len(found.path.rstrip("/")):].lstrip("/")
    base = posixpath.join(kubelet_root, "pods", uid, "volumes", "kubernetes.io~empty-dir", found.volume)
    if found.sub_path:
        base = posixpath.join(base, found.sub_path)
    return container.name, posixpath.join(base, rel) if rel else base
