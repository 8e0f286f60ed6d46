"""The whole config: the core's shared sections and every part's own section, assembled in one model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from exporters.config import ExportersConfig
from observe.config import (
    ElasticsearchConfig,
    EnvFirstSettings,
    KubeConfig,
    RenderConfig,
    ServiceConfig,
    load_settings,
)
from observe.logs.config import LogsConfig
from observe.traces.config import TracesConfig


class Config(EnvFirstSettings):
    """The whole configuration of every observe service."""

    service: ServiceConfig = Field(default_factory=ServiceConfig)  # type: ignore[arg-type]
    elasticsearch: ElasticsearchConfig = Field(default_factory=ElasticsearchConfig)  # type: ignore[arg-type]
    kube: KubeConfig = Field(default_factory=KubeConfig)  # type: ignore[arg-type]
    logs: LogsConfig = Field(default_factory=LogsConfig)
    exporters: ExportersConfig = Field(default_factory=ExportersConfig)
    traces: TracesConfig = Field(default_factory=TracesConfig)
    render: RenderConfig = Field(default_factory=RenderConfig)  # type: ignore[arg-type]


def load_config(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate the whole config; raise ConfigError with a message a person can act on."""
    return load_settings(Config, path, overrides)
