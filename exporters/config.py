"""Config of the exporters (the `exporters` section)."""

from pydantic import Field

from observe.config_section import Section


class ClusterExporterConfig(Section):
    """The cluster-state exporter."""

    enabled: bool = Field(True, description="Run the cluster exporter when a Kubernetes API is reachable.")


class ExportersConfig(Section):
    """All exporters."""

    cluster: ClusterExporterConfig = Field(default_factory=ClusterExporterConfig)  # type: ignore[arg-type]
