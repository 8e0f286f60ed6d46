"""Generates docs/metrics.md from the metric definitions in the code, so the reference cannot drift.

Every service is built with a fresh registry and default config, and its registry is asked what it exports; the
pre-rendered families (cluster, Elasticsearch, probe results) come from their definition tables.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from exporters.cluster.kinds import KINDS
from exporters.elasticsearch import render as es_render
from exporters.probe.prober import Result
from observe.app.config import Config
from observe.app.services import CLUSTER, ELASTICSEARCH, PROBE, SHIPPER, TRACES, ServiceSpec
from observe.config import ElasticsearchConfig, ServiceConfig

HEADER = ("<!-- Generated from the metric definitions by `observe export metrics-reference > docs/metrics.md`. "
          "Do not edit by hand. -->\n")

Row = tuple[str, str, str, str]  # name, type, labels, help


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: Iterable[Row]) -> list[str]:
    out = ["| metric | type | labels | help |", "|---|---|---|---|"]
    out += [f"| `{n}` | {t} | {_cell(lbl)} | {_cell(h)} |" for n, t, lbl, h in sorted(set(rows))]
    return [*out, ""]


def registry_rows(registry: CollectorRegistry) -> list[Row]:
    """One row per family the registry would expose (counters get their _total sample name)."""
    rows: list[Row] = []
    for fam in registry.collect():
        name = fam.name + ("_total" if fam.type == "counter" else "") + ("_info" if fam.type == "info" else "")
        label_names: set[str] = set()
        for s in fam.samples:
            label_names.update(s.labels)
        label_names.update(getattr(fam, "_labelnames", ()))  # custom collectors' families with no sample yet
        labels = ", ".join(f"`{n}`" for n in sorted(label_names))
        if not labels and fam.type not in ("info",):
            labels = _declared_labels(registry, fam.name)
        rows.append((name, fam.type, labels, fam.documentation))
    return rows


def _declared_labels(registry: CollectorRegistry, name: str) -> str:
    # Labelled metrics with no child yet expose no sample; their label names live on the metric object.
    for collector in list(registry._collector_to_names):
        if getattr(collector, "_name", None) == name:
            return ", ".join(f"`{n}`" for n in getattr(collector, "_labelnames", ()))
    return ""


def text_rows(exposition: bytes) -> list[Row]:
    """Rows from HELP/TYPE lines and the label names of the samples of an exposition text."""
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    labels: dict[str, set[str]] = {}
    for line in exposition.decode().splitlines():
        if line.startswith("# HELP "):
            name, _, text = line[7:].partition(" ")
            helps[name] = text
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            types[name] = kind
        elif line and "{" in line:
            name, _, rest = line.partition("{")
            for suffix in ("_bucket", "_count", "_sum"):
                if name.endswith(suffix) and types.get(name[: -len(suffix)]) == "histogram":
                    name = name[: -len(suffix)]
            labels.setdefault(name, set()).update(p.split("=", 1)[0] for p in rest.split("}")[0].split('",')
                                                  if "=" in p and p.split("=", 1)[0] != "le")
    return [(n, types.get(n, ""), ", ".join(f"`{x}`" for x in sorted(labels.get(n, ()))), helps[n]) for n in helps]


def _service_rows(spec: ServiceSpec, config: Config) -> tuple[list[Row], str]:
    try:
        registry = CollectorRegistry()
        spec.build(config, registry)
    except ImportError as exc:
        return [], f"_Not available in this build: {exc}._"
    return registry_rows(registry), ""


# One object per kind with every field a family reads, so the reference lists every family's labels.
_MD = {"name": "x", "namespace": "x", "uid": "x", "creationTimestamp": "2024-01-01T00:00:00Z", "generation": 1,
       "labels": {"app": "x", "node-role.kubernetes.io/worker": ""}, "annotations": {"team": "x"},
       "ownerReferences": [{"kind": "ReplicaSet", "name": "x", "controller": True}]}
_CONDITION = {"type": "Ready", "status": "True", "reason": "x"}
_RESOURCES = {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
_SAMPLES: dict[str, dict[str, object]] = {
    "pods": {"spec": {"nodeName": "x", "containers": [{"name": "x", "image": "x", "resources": _RESOURCES}]},
             "status": {"phase": "Running", "reason": "x", "startTime": "2024-01-01T00:00:00Z", "conditions": [
                 _CONDITION, {"type": "PodScheduled", "status": "True"}],
                 "containerStatuses": [{"name": "x", "image": "x", "imageID": "x", "containerID": "x", "ready": True,
                                        "restartCount": 0, "state": {"waiting": {"reason": "x"},
                                                                     "terminated": {"reason": "x"}},
                                        "lastState": {"terminated": {"reason": "x"}}}]}},
    "nodes": {"spec": {"taints": [{"key": "x", "value": "x", "effect": "NoSchedule"}]},
              "status": {"conditions": [_CONDITION], "capacity": {"cpu": "1"}, "allocatable": {"cpu": "1"}}},
    "deployments": {"status": {"conditions": [_CONDITION]}},
    "statefulsets": {"status": {"currentRevision": "x", "updateRevision": "x"}},
    "jobs": {"spec": {"completions": 1}, "status": {"failed": 1, "startTime": "2024-01-01T00:00:00Z",
                                                    "conditions": [{"type": "Failed", "status": "True"}]}},
    "cronjobs": {"spec": {"schedule": "0 3 * * *"}, "status": {"lastScheduleTime": "2024-01-01T00:00:00Z"}},
    "namespaces": {"status": {"phase": "Active"}},
    "resourcequotas": {"status": {"hard": {"pods": "1"}, "used": {"pods": "1"}}},
    "persistentvolumeclaims": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                               "status": {"phase": "Bound"}},
    "persistentvolumes": {"spec": {"capacity": {"storage": "1Gi"}}, "status": {"phase": "Bound"}},
}


def _cluster_rows() -> list[Row]:
    from exporters.cluster.family import Options

    rows: list[Row] = []
    for name, kind in KINDS.items():
        sample = {"metadata": _MD, **_SAMPLES.get(name, {})}
        text = kind.render(sample, Options(labels=["app"], annotations=["team"]))
        for fam in kind.families:
            lbl = sorted({p.split("=", 1)[0] for line in text.get(fam.name, b"").decode().splitlines()
                          for p in line.partition("{")[2].split("}")[0].split('",') if "=" in p})
            rows.append((fam.name, fam.type, f"resource `{name}`; " + ", ".join(f"`{x}`" for x in lbl) if lbl
                         else f"resource `{name}`", fam.help))
    return rows


def render_reference() -> str:
    """The Markdown reference of every metric family of every service."""
    from observe.service import ServiceHost

    config = Config()
    kit = CollectorRegistry()
    ServiceHost(ServiceConfig(), [], kit)  # type: ignore[call-arg]
    lines = [HEADER, "# Metrics reference", "",
             "Every family each service exports, generated from the code. Label lists of the cluster families come "
             "from rendering an object of each kind with every field set; `label_*`/`annotation_*` follow the "
             "allowlists (shown here for a label `app` and an annotation `team`).", "",
             "## Every service (the kit)", "", *_table(registry_rows(kit))]

    lines += ["## Cluster exporter (`observe export cluster`)", "",
              "kube-state-metrics families with identical names, labels and semantics, plus the exporter's own health.",
              "", *_table(_cluster_rows())]
    rows, note = _service_rows(CLUSTER, config)
    lines += ["### Exporter health", "", *(_table(rows) if rows else [note, ""])]

    es_config = config.model_copy(update={"elasticsearch": ElasticsearchConfig(url="http://es:9200")})  # type: ignore[call-arg]
    rows, note = _service_rows(ELASTICSEARCH, es_config)
    lines += ["## Elasticsearch exporter (`observe export elasticsearch`)", "",
              "Names of the prometheus-community elasticsearch_exporter. Per node series carry `name` (the node name).",
              "", *_table([*_es_rows(), *rows])]

    probe_rows = text_rows(Result(cert_expiry=0.0).exposition(http=True))
    rows, note = _service_rows(PROBE, config)
    lines += ["## Probe exporter (`observe export probe`)", "",
              "`/probe` answers with blackbox_exporter's names; `/metrics` carries the exporter's own counters.", "",
              *_table([*probe_rows, *rows])]

    rows, note = _service_rows(SHIPPER, es_config)  # the Elasticsearch sink: its node pool's families too
    lines += ["## Log shipper (`observe ship`)", "",
              "The `observe_shipper_es_*` families exist with the Elasticsearch sink; `node` is a node's base URL.", "",
              *(_table(rows) if rows else [note, ""])]
    rows, note = _service_rows(TRACES, config)
    lines += ["## Trace puller (`observe traces`)", "",
              "The OpenTelemetry collector's servicegraph and spanmetrics connector names and labels (`connection_type` "
              "is `\"\"`, `database`, `messaging_system` or `virtual_node`; `failed` is `true` or `false`), plus the "
              "puller's own health. The spanmetrics duration is `traces_span_metrics_duration_milliseconds` with "
              "`traces.span_metrics_unit: ms` (the default) and `..._seconds` with `s`.", "",
              *_table([*text_rows(_traces_sample()), *rows])]
    return "\n".join(lines).rstrip("\n") + "\n"


def _traces_sample() -> bytes:
    """The trace puller's families with one series each: a pair, an unpaired span, a dropped span, a budget drop."""
    from observe.traces.aggregate import RedAggregates
    from observe.traces.exposition import render
    from observe.traces.model import KIND_CLIENT, KIND_SERVER, STATUS_ERROR, Span

    agg = RedAggregates(max_series=1)
    client = Span("c", "", "t", "a", "op", KIND_CLIENT, 0, 2000, STATUS_ERROR, 1.0)
    agg.span(client)
    agg.span(Span("x", "", "t", "a", "other", KIND_CLIENT, 0, 2000, STATUS_ERROR, 1.0))  # over the budget
    agg.pair(client, Span("s", "c", "t", "b", "op", KIND_SERVER, 0, 1000, STATUS_ERROR, 1.0))
    agg.pair(client, Span("s2", "c", "t", "z", "op", KIND_SERVER, 0, 1000, STATUS_ERROR, 1.0))  # over the budget
    agg.unpaired(client)
    return render(agg, openmetrics=False)


def _es_rows() -> list[Row]:
    labels = {
        "elasticsearch_cluster_health_status": "`color`", "elasticsearch_jvm_memory_used_bytes": "`area`, `name`",
        "elasticsearch_jvm_memory_max_bytes": "`area`, `name`", "elasticsearch_thread_pool_queue_count": "`name`, `type`",
        "elasticsearch_thread_pool_rejected_count": "`name`, `type`", "elasticsearch_breakers_tripped": "`breaker`, `name`",
        "elasticsearch_data_stream_docs_count": "`data_stream` (opt-in)",
        "elasticsearch_data_stream_store_size_bytes": "`data_stream` (opt-in)",
    }
    return [(n, kind, labels.get(n, "`name`" if n.startswith(("elasticsearch_indices", "elasticsearch_filesystem"))
                                 else ""), h) for n, (kind, h) in es_render.FAMILIES.items()]
