"""Config of the exporters (the `exporters` section)."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from observe.config_section import Section

CLUSTER_RESOURCES = (
    "pods", "nodes", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs",
    "horizontalpodautoscalers", "namespaces", "resourcequotas", "persistentvolumeclaims", "persistentvolumes",
    "poddisruptionbudgets", "services",
)


class ClusterExporterConfig(Section):
    """The cluster-state exporter (kube-state-metrics families)."""

    enabled: bool = Field(True, description="Run the cluster exporter when a Kubernetes API is reachable.")
    resources: list[str] = Field(
        default_factory=lambda: list(CLUSTER_RESOURCES),
        description="Resources to watch and export, by kube-state-metrics name (pods, nodes, deployments, ...).",
    )
    metric_labels_allowlist: str = Field(
        "", description="Kubernetes labels exported as label_* on kube_<resource>_labels, in kube-state-metrics syntax: "
        "`pods=[app,team],namespaces=[*]`. Empty: the *_labels families are not emitted.",
    )
    metric_annotations_allowlist: str = Field(
        "", description="Annotations exported as annotation_* on kube_<resource>_annotations (same syntax).",
    )
    shard: int = Field(0, ge=0, description="This instance's shard, 0 <= shard < total_shards (objects split by UID hash).")
    total_shards: int = Field(1, ge=1, description="Number of shards; 1 exports everything.")
    list_encoding: Literal["protobuf", "json"] = Field(
        "protobuf", description="Encoding of the LIST pages of pods, replicasets and deployments: protobuf costs the "
        "API server about half the CPU of JSON (as kube-state-metrics asks for it); json for an API path that "
        "mangles protobuf. Watches are JSON.",
    )
    series_budget: int = Field(
        0, ge=0, description="Most series this instance exports; objects beyond it are counted in "
        "observe_exporter_series_dropped_total{family}. 0 means no limit.",
    )

    @field_validator("resources")
    @classmethod
    def _known_resources(cls, value: list[str]) -> list[str]:
        unknown = [r for r in value if r not in CLUSTER_RESOURCES]
        if unknown:
            raise ValueError(f"resource names from {', '.join(CLUSTER_RESOURCES)}; unknown: {', '.join(unknown)}")
        return value

    @field_validator("metric_labels_allowlist", "metric_annotations_allowlist")
    @classmethod
    def _allowlist_syntax(cls, value: str) -> str:
        from exporters.cluster.allowlist import parse

        parse(value)  # raises ValueError with what was expected
        return value

    @model_validator(mode="after")
    def _shard_in_range(self) -> ClusterExporterConfig:
        if self.shard >= self.total_shards:
            raise ValueError(f"shard < total_shards, got shard={self.shard} with total_shards={self.total_shards}")
        return self


class ProbeModuleConfig(Section):
    """One probe module (blackbox_exporter style)."""

    prober: Literal["http", "tcp"] = Field("http", description="http (also for https://) or tcp (connect, optional TLS).")
    timeout_seconds: float = Field(5.0, gt=0, description="Upper bound of one probe (the scrape timeout may shorten it).")
    method: str = Field("GET", description="HTTP method.")
    valid_status_codes: list[int] = Field(default_factory=list, description="Accepted HTTP codes; empty means 2xx.")
    follow_redirects: bool = Field(True, description="Follow HTTP redirects.")
    tls: bool = Field(False, description="tcp prober: start TLS after connecting.")
    verify_certs: bool = Field(True, description="Verify the target's certificate.")
    ca_file: Path | None = Field(None, description="CA bundle to verify targets with (default: the system store).")
    fail_if_not_ssl: bool = Field(False, description="http prober: fail when the final response was not over TLS.")


def _default_modules() -> dict[str, ProbeModuleConfig]:
    return {
        "http_2xx": ProbeModuleConfig(prober="http"),  # type: ignore[call-arg]
        "https_2xx": ProbeModuleConfig(prober="http", fail_if_not_ssl=True),  # type: ignore[call-arg]
        "tcp_connect": ProbeModuleConfig(prober="tcp"),  # type: ignore[call-arg]
    }


class ProbeExporterConfig(Section):
    """The probe exporter: /probe?target=&module= with an allowlist, and /targets discovery."""

    enabled: bool = Field(True, description="Run the probe exporter.")
    modules: dict[str, ProbeModuleConfig] = Field(
        default_factory=_default_modules, description="Probe modules by name (http_2xx, https_2xx, tcp_connect by default)."
    )
    default_module: str = Field("http_2xx", description="Module used when the request names none.")
    allow_hosts: list[str] = Field(default_factory=list, description="Target host names allowed exactly.")
    allow_cidrs: list[str] = Field(
        default_factory=list, description="Networks a target may resolve into, e.g. 10.0.0.0/8. Every resolved address "
        "must match, so DNS cannot point an allowed name elsewhere.",
    )
    allow_dns_suffixes: list[str] = Field(
        default_factory=lambda: [".svc.cluster.local", ".svc"],
        description="Host name suffixes allowed, e.g. .svc.cluster.local for in-cluster Services.",
    )
    allow_ports: list[int] = Field(
        default_factory=lambda: [80, 443], description="Ports a target may use, besides the ports of discovered "
        "targets (/targets). Any other port, the exporter's own included, is refused as port_not_allowed.",
    )
    discovery: bool = Field(True, description="Serve /targets (http_sd) from Services and Ingresses annotated "
                                              "observe.io/probe: \"true\" (needs the Kubernetes API).")

    @field_validator("allow_ports")
    @classmethod
    def _ports(cls, value: list[int]) -> list[int]:
        bad = [p for p in value if not 0 < p < 65536]
        if bad:
            raise ValueError(f"TCP ports from 1 to 65535; got {bad[:5]}")
        return value

    @field_validator("allow_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        from exporters.probe.allowlist import BadTarget, canonical_host

        for host in value:
            try:
                canonical_host(host)
            except BadTarget as exc:
                raise ValueError(f"host names like web.example.com; {exc}") from None
        return value

    @field_validator("allow_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"CIDR networks like 10.0.0.0/8; {cidr!r} is not one") from None
        return value

    @model_validator(mode="after")
    def _default_module_exists(self) -> ProbeExporterConfig:
        if self.default_module not in self.modules:
            raise ValueError(f"default_module naming one of the modules ({', '.join(self.modules)}), "
                             f"got {self.default_module!r}")
        return self


class ElasticsearchExporterConfig(Section):
    """The Elasticsearch/OpenSearch exporter (connection from the top-level `elasticsearch` section)."""

    enabled: bool = Field(True, description="Run the Elasticsearch exporter when elasticsearch.url is set.")
    interval_seconds: float = Field(
        15.0, gt=0, description="How often stats are fetched; scrapes read the cache (its age is "
        "observe_elasticsearch_stats_age_seconds).",
    )
    data_streams: bool = Field(False, description="Also export per data stream document counts and sizes (opt-in).")


class ExportersConfig(Section):
    """All exporters."""

    cluster: ClusterExporterConfig = Field(default_factory=ClusterExporterConfig)  # type: ignore[arg-type]
    probe: ProbeExporterConfig = Field(default_factory=ProbeExporterConfig)  # type: ignore[arg-type]
    elasticsearch: ElasticsearchExporterConfig = Field(default_factory=ElasticsearchExporterConfig)  # type: ignore[arg-type]
