"""Typed render values: the embedded defaults merged with the user's file, validated key by key."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from observe import config_input
from observe.config import ConfigError, format_errors
from observe.merge import deep_merge
from observe.render.email_address import split_addresses

_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"a Prometheus duration like 30s, 5m or 1h, got {value!r}")
    return value


class Jobs(_Strict):
    """Prometheus job label of each scrape target."""

    cluster_exporter: str
    shipper: str
    elasticsearch_exporter: str
    probe_exporter: str
    traces: str
    kubelet: str
    cadvisor: str
    node_exporter: str
    kube_scheduler: str
    kube_controller_manager: str

    @field_validator("*")
    @classmethod
    def _quotable(cls, value: str) -> str:
        # The templates write job="<name>" into PromQL: a quote, backslash or control character breaks the selector
        # (a newline even the rules file's YAML).
        if not value or any(c in '"\\' or ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("a Prometheus job name, without quotes, backslashes or control characters")
        return value


class Platform(_Strict):
    """What the platform exposes; alert groups for what it hides are not rendered."""

    managed_control_plane: bool
    kubelet: bool
    node_exporter: bool
    provider_managed_nodes: bool
    istio: bool


class Grafana(_Strict):
    """Grafana links and datasource defaults (the dashboards' folder is the chart's dashboards.folder)."""

    url: str
    datasource: str
    traces_datasource_uid: str
    uid_prefix: str


class Kibana(_Strict):
    """Where the Kibana links point."""

    url: str
    data_view_id: str
    data_stream: str


class Traces(_Strict):
    """The trace UI that alert links open, and the spanmetrics unit the trace puller exports."""

    url: str
    # traces_span_metrics_duration_milliseconds (ms, the OpenTelemetry collector's default) or _seconds (s); the
    # puller's traces.span_metrics_unit must say the same.
    span_metrics_unit: Literal["ms", "s"] = "ms"


class Thresholds(_Strict):
    """Alert thresholds."""

    cpu_throttling_percent: float = Field(gt=0, le=100)
    quota_almost_full_ratio: float = Field(gt=0, le=1)
    pv_free_ratio: float = Field(gt=0, lt=1)
    kubelet_pods_ratio: float = Field(gt=0, le=1)
    shipper_lag_bytes: int = Field(gt=0)
    checkpoint_age_seconds: float = Field(gt=0)
    es_disk_free_ratio: float = Field(gt=0, lt=1)
    es_heap_ratio: float = Field(gt=0, le=1)
    probe_slow_seconds: float = Field(gt=0)
    cert_expiry_days: float = Field(gt=0)
    trace_slo_target: float = Field(gt=0, lt=1)
    trace_latency_p99_seconds: float = Field(gt=0)


class Rules(_Strict):
    """Recording and alerting rules."""

    extra_labels: dict[str, str]
    disabled: list[str]
    for_override: str | None
    evaluation_interval: str
    thresholds: Thresholds

    _check_interval = field_validator("evaluation_interval")(_duration)

    @field_validator("for_override")
    @classmethod
    def _check_for(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)


class Tls(_Strict):
    """TLS towards the SMTP smarthost."""

    ca_file: str | None
    server_name: str | None
    insecure_skip_verify: bool


class Smtp(_Strict):
    """The SMTP smarthost every email receiver uses."""

    smarthost: str = Field(pattern=r"^[^:\s]+:[0-9]+$")
    from_: str = Field(alias="from")
    hello: str
    auth_username: str | None
    auth_password_file: str | None
    require_tls: bool
    tls: Tls

    @field_validator("from_")
    @classmethod
    def _check_from(cls, value: str) -> str:
        # Alertmanager refuses an empty smtp_from; an address without @ bounces. The address may carry a display
        # name: "Alerts <alertmanager@example.com>".
        address = value.rsplit("<", 1)[-1].rstrip(">").strip()
        if not split_addresses(address)[0] or "\n" in value:
            raise ValueError("one email address, e.g. alertmanager@example.com or Alerts <alertmanager@example.com>")
        return value


class Heartbeat(_Strict):
    """The receiver of the always-firing Watchdog alert."""

    webhook_url: str | None = None
    email: str | None = None
    repeat_interval: str

    _check_repeat = field_validator("repeat_interval")(_duration)

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("an http:// or https:// URL (Alertmanager refuses others), or null for no webhook")
        return value


class Team(_Strict):
    """A team that owns namespaces and gets their alerts."""

    name: str
    email: str  # one address or several, comma-separated
    namespaces: list[str] = Field(min_length=1)

    @field_validator("email")
    @classmethod
    def _check_email(cls, value: str) -> str:
        valid, invalid = split_addresses(value)
        if invalid or not valid:
            raise ValueError(f"comma-separated email addresses like team@example.com, got {value!r}")
        return ", ".join(valid)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"a DNS label (lowercase letters, digits, '-'), got {value!r}")
        return value


class Alertmanager(_Strict):
    """Alertmanager routing and email."""

    resolve_timeout: str
    group_wait: str
    group_interval: str
    repeat_interval: str
    smtp: Smtp
    default_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    critical_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    heartbeat: Heartbeat
    teams: list[Team]

    _check_durations = field_validator("resolve_timeout", "group_wait", "group_interval", "repeat_interval")(_duration)


class Values(_Strict):
    """Everything the templates read."""

    jobs: Jobs
    platform: Platform
    grafana: Grafana
    kibana: Kibana
    traces: Traces
    runbook_base_url: str
    rules: Rules
    alertmanager: Alertmanager


def default_values() -> dict[str, Any]:
    """The embedded defaults as plain data."""
    text = resources.files("observe.render").joinpath("values.yaml").read_text()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def with_teams(model: Values, teams: list[Team]) -> tuple[Values, dict[str, Any]]:
    """The values with `teams` appended to alertmanager.teams (after the values' own teams, which match first)."""
    data = model.model_dump(by_alias=True)
    data["alertmanager"]["teams"] += [t.model_dump(by_alias=True) for t in teams]
    extended = Values.model_validate(data)
    return extended, extended.model_dump(by_alias=True)


def load_values(path: Path | None) -> tuple[Values, dict[str, Any]]:
    """Defaults merged with `path`: the validated model and the plain data the templates see."""
    data = default_values()
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            user = config_input.load_file(path, "values file")
        except FileNotFoundError:
            raise ConfigError(f"values file {path} does not exist; pass an existing YAML file") from None
        except OSError as exc:
            raise ConfigError(f"cannot read values file {path}: {exc.strerror}") from None
        except config_input.InputError as exc:
            raise ConfigError(str(exc)) from None
        if user is None:
            user = {}
        if not isinstance(user, dict):
            raise ConfigError(f"values file {path}: the top level must be a mapping, got {type(user).__name__}")
        if isinstance(user.get("grafana"), dict) and "folder" in user["grafana"]:
            raise ConfigError(f"values file {path}: grafana.folder is not a render value; the dashboards' Grafana "
                              "folder is the chart value dashboards.folder (helm/observe/values.yaml)")
        data = deep_merge(data, user)
    try:
        model = Values.model_validate(data)
    except ValidationError as exc:
        text = format_errors(exc, source=source, model=Values)
        raise ConfigError(text.replace("invalid config", "invalid render values")) from None
    return model, model.model_dump(by_alias=True)
