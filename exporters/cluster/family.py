"""What a metric family is, how an object becomes text for its families, and the options renderers share."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from exporters.cluster import allowlist
from observe.exposition import escape, header, labels, line
from observe.kube.reflector import Resource

Obj = Mapping[str, Any]
BOOL3 = ("true", "false", "unknown")  # the values of KSM's condition triple (Out.bool3)


@dataclass(frozen=True)
class Family:
    """One metric family: kube-state-metrics' name, type and help."""

    name: str
    type: str
    help: str

    def header(self, openmetrics: bool) -> bytes:
        """The HELP and TYPE lines; OpenMetrics names a counter family without its _total suffix."""
        return header(self.name, self.type, self.help, openmetrics).encode()


@dataclass(frozen=True)
class Options:
    """Per-resource render options: the allowlisted label and annotation keys."""

    labels: list[str] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Kind:
    """A resource the exporter can watch: its API, its families, and its renderer."""

    name: str
    api: Resource
    families: tuple[Family, ...]
    render: Callable[[Obj, Options], dict[str, bytes]]
    # The list message observe/kube/protobuf.py declares for this resource (e.g. "PodList"): its LIST pages are
    # read in protobuf. None: JSON.
    protobuf: str | None = None
    # The renderer of one item of such a page, reading the decoded message itself (None: the message is turned into
    # the JSON dict first, for `render`). It must give what `render` gives for the same object.
    render_message: Callable[[Any, Options], dict[str, bytes]] | None = None


class Out:
    """Collects sample lines per family for one object, then hands back bytes per family."""

    __slots__ = ("parts", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.parts: dict[str, list[str]] = {}

    def add(self, family: str, value: float | None, extra: str = "") -> None:
        """One sample (skipped when value is None, like KSM skips unset fields)."""
        if value is None:
            return
        self.parts.setdefault(family, []).append(line(family, self.prefix, extra, value))

    def bool3(self, family: str, status: str | None, label: str = "condition", before: str = "") -> None:
        """KSM's condition triple: label=true|false|unknown, 1 for the current status, 0 for the others."""
        s = (status or "").lower()
        if not before:
            self.choice(family, label, BOOL3, s)
            return
        lead = before + ","
        for v in BOOL3:
            self.add(family, 1 if s == v else 0, f'{lead}{label}="{v}"')

    def choice(self, family: str, label: str, values: tuple[str, ...], current: str) -> None:
        """One sample per value of `label`: 1 for `current`, 0 for the others (a pod's phase, a condition)."""
        self.parts.setdefault(family, []).append(choice_text(family, self.prefix, label, values, current))

    def meta(self, kind: str, obj: Obj, opts: Options) -> None:
        """kube_<kind>_labels / _annotations, emitted only when an allowlist names this resource (as KSM does)."""
        md = obj.get("metadata") or {}
        self.meta_of(kind, md.get("labels"), md.get("annotations"), opts)

    def meta_of(self, kind: str, object_labels: Mapping[str, str] | None, annotations: Mapping[str, str] | None,
                opts: Options) -> None:
        """meta() from the object's labels and annotations."""
        for family, text in meta_texts(kind, self.prefix, object_labels, annotations, opts):
            self.parts.setdefault(family, []).append(text)

    def result(self) -> dict[str, bytes]:
        """Bytes per family."""
        return {f: "".join(v).encode() for f, v in self.parts.items()}


def choice_text(family: str, prefix: str, label: str, values: tuple[str, ...], current: str) -> str:
    """Out.choice's lines, for a renderer that writes its families' text itself (pods.emit)."""
    head = f"{family}{{{prefix}," if prefix else f"{family}{{"
    return "".join([head + tail for tail in _tails(label, values, current)])


def meta_texts(kind: str, prefix: str, object_labels: Mapping[str, str] | None,
               annotations: Mapping[str, str] | None, opts: Options) -> list[tuple[str, str]]:
    """(family, line) of kube_<kind>_labels and _annotations, each only when an allowlist names the resource."""
    out = []
    if opts.labels:
        family = f"kube_{kind}_labels"
        out.append((family, line(family, prefix, labels(allowlist.prometheus_pairs("label", object_labels,
                                                                                    opts.labels)), 1)))
    if opts.annotations:
        family = f"kube_{kind}_annotations"
        pairs = allowlist.prometheus_pairs("annotation", annotations, opts.annotations)
        out.append((family, line(family, prefix, labels(pairs), 1)))
    return out


# (label, values, current) -> each sample's text after the object's labels, e.g. 'phase="Running"} 1\n'.
_TAILS: dict[tuple[str, tuple[str, ...], str], list[str]] = {}


def _tails(label: str, values: tuple[str, ...], current: str) -> list[str]:
    key = (label, values, current)
    tails = _TAILS.get(key)
    if tails is None:
        if len(_TAILS) >= 1000:  # a status outside the usual few, e.g. from a broken object: stay small
            _TAILS.clear()
        tails = _TAILS[key] = [f'{label}="{v}"}} {1 if v == current else 0}\n' for v in values]
    return tails


def meta_families(kind: str, noun: str) -> tuple[Family, Family]:
    """The labels and annotations families of one kind."""
    return (
        Family(f"kube_{kind}_labels", "gauge", f"Kubernetes labels of the {noun} converted to Prometheus labels."),
        Family(f"kube_{kind}_annotations", "gauge", f"Kubernetes annotations of the {noun} converted to Prometheus labels."),
    )


def timestamp(text: str | None) -> float | None:
    """Unix seconds of an RFC 3339 time, or None."""
    if not text:
        return None
    try:
        return float(int(datetime.fromisoformat(text).timestamp()))
    except ValueError:
        return None


def num(value: Any) -> float | None:
    """A number from a JSON field, or None when absent."""
    return None if value is None or isinstance(value, bool) else float(value)


def owners(out: Out, family: str, obj: Obj, none: str) -> None:
    """kube_*_owner: one series per ownerReference; `none` fills the labels when there is no owner."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    owner_refs(out, family, [(ref.get("kind", ""), ref.get("name", ""), bool(ref.get("controller"))) for ref in refs],
               none)


def owner_refs(out: Out, family: str, refs: Sequence[tuple[str, str, bool]], none: str) -> None:
    """owners() from (kind, name, controller) per reference."""
    out.parts.setdefault(family, []).append(owner_text(family, out.prefix, refs, none))


def owner_text(family: str, prefix: str, refs: Sequence[tuple[str, str, bool]], none: str) -> str:
    """owner_refs' lines, for a renderer that writes its families' text itself (pods.emit)."""
    if not refs:
        return line(family, prefix, f'owner_kind="{none}",owner_name="{none}",owner_is_controller="{none}"', 1)
    return "".join([line(family, prefix, f'owner_kind="{escape(kind)}",owner_name="{escape(name)}",'
                                         f'owner_is_controller="{"true" if controller else "false"}"', 1)
                    for kind, name, controller in refs])
