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
            labels.setdefault(name, set()).update(p.split("=", 1)[0] for p in rest.split("}")[0].split('",') if "=" in p)
    return [(n, types.get(n, ""), ", ".join(f"`{x}`" for x in sorted(labels.get(n, ()))), helps[n]) for n in helps]


def _service_rows(spec: ServiceSpec, config: Config) -> tuple[list[Row], str]:
    try:
        registry = CollectorRegistry()
        spec.build(config, registry)
    except ImportError as exc:
        return [], f"_Not available in this build: {exc}._"
    return registry_rows(registry), ""


def _cluster_rows() -> list[Row]:
    from exporters.cluster.family import Options

    rows: list[Row] = []
    sample = {"metadata": {"name": "x", "namespace": "x", "uid": "x", "creationTimestamp": "2024-01-01T00:00:00Z"}}
    for name, kind in KINDS.items():
        text = kind.render(sample, Options(labels=["*"], annotations=["*"]))
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
             "Every family each service exports, generated from the code. Label lists of the cluster families show "
             "the labels of a minimal object; per-object labels (containers, conditions, resources) appear when the "
             "object has them, and `label_*`/`annotation_*` follow the allowlists.", "",
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

    for title, spec in (("Log shipper (`observe ship`)", SHIPPER), ("Trace puller (`observe traces`)", TRACES)):
        rows, note = _service_rows(spec, config)
        lines += [f"## {title}", "", *(_table(rows) if rows else [note, ""])]
    return "\n".join(lines).rstrip("\n") + "\n"


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
