"""The core of the typed config: the sections every part shares, secrets, and loading and explaining a config.

The whole config (every part's section) is assembled in observe/app/config.py; the core never imports a part.
A config is a YAML file, overridden by OBSERVE_* environment variables (nested keys joined by `__`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from observe import config_input
from observe.config_section import Section
from observe.merge import deep_merge

Settings = TypeVar("Settings", bound=BaseSettings)


class ConfigError(Exception):
    """A config the user can fix: the message names the key, the value and what was expected."""


class ServiceConfig(Section):
    """The HTTP server every service shares (/metrics, /healthz, /readyz)."""

    host: str = Field("127.0.0.1", description="Address to bind. The chart sets 0.0.0.0 inside pods.")
    port: int = Field(9600, ge=0, le=65535, description="HTTP port for /metrics, /healthz, /readyz (0 picks a free one).")
    drain_timeout_seconds: float = Field(
        10.0, gt=0, description="On SIGTERM, how long services may drain in-flight work before the process exits."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Level of the JSON log.")
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP endpoint (e.g. http://jaeger:4318) for the suite's own spans; off when unset."
    )


class ElasticsearchConfig(Section):
    """Connection to Elasticsearch or OpenSearch, shared by the shipper and the Elasticsearch exporter."""

    url: str = Field("", description="Base URL, e.g. https://es:9200: the same as a one-element `urls`. Empty (and "
                     "no `urls`) means not configured.")
    # NoDecode: the env value is read by _url_list (a JSON list or comma-separated URLs), not by pydantic-settings.
    urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Base URLs of several nodes of one cluster, e.g. [\"https://es-0:9200\", "
        "\"https://es-1:9200\"]; requests go round robin to the live ones. One scheme for all. Set `url` or `urls`, "
        "not both. In env: a JSON list or comma-separated URLs.",
    )
    sniff: bool = Field(
        False, description="Ask the cluster for its nodes (GET /_nodes/http, their HTTP publish addresses) at start, "
        "every sniff_interval_seconds and after a node fails, and send to those (with the scheme of the configured "
        "URLs; dedicated master nodes left out). The configured URLs stay the seeds when the answer is empty.",
    )
    sniff_interval_seconds: float = Field(60.0, gt=0, description="How often the node list is sniffed again.")
    dead_node_backoff_seconds: float = Field(
        1.0, gt=0, description="A node that fails to connect or times out rests this long before a request probes it "
        "again; doubled per consecutive failure up to dead_node_backoff_max_seconds.",
    )
    dead_node_backoff_max_seconds: float = Field(60.0, gt=0, description="The longest rest of a failing node.")
    engine: Literal["auto", "elasticsearch", "opensearch"] = Field(
        "auto", description="Which engine; auto asks the server."
    )
    ca_file: Path | None = Field(None, description="CA bundle to verify the server's certificate.")
    verify_certs: bool = Field(True, description="Verify TLS certificates. Turn off only for a throwaway test cluster.")
    username: str | None = Field(None, description="Basic-auth user. The password comes from password_file or env.")
    password_file: Path | None = Field(None, description="File holding the basic-auth password (a mounted Secret).")
    api_key_file: Path | None = Field(None, description="File holding an API key (a mounted Secret).")
    request_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one HTTP request.")

    @field_validator("url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        return config_input.check_base_url(value, "elasticsearch")

    @field_validator("urls", mode="before")
    @classmethod
    def _url_list(cls, value: Any) -> Any:
        return config_input.split_url_list(value) if isinstance(value, str) else value

    @field_validator("urls")
    @classmethod
    def _base_urls(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for n, url in enumerate(value, start=1):
            if not url:
                raise ValueError(f"a base URL in every item (item {n} is empty)")
            try:
                config_input.check_base_url(url, "elasticsearch")
            except ValueError as exc:
                raise ValueError(f"{exc} (item {n}: {config_input.echo(url)})") from None
        if len({u.rstrip("/") for u in value}) != len(value):
            raise ValueError("each URL once")
        if len({u.split("://", 1)[0] for u in value}) > 1:
            raise ValueError("URLs of one scheme: all http:// or all https:// (one TLS setting serves them all)")
        if value and info.data.get("url"):
            raise ValueError(f"either elasticsearch.url or elasticsearch.urls, not both (url is "
                             f"{config_input.echo(info.data['url'])}; a one-element urls is the same as url)")
        return value

    @field_validator("dead_node_backoff_max_seconds")
    @classmethod
    def _backoff_cap(cls, value: float, info: ValidationInfo) -> float:
        initial = info.data.get("dead_node_backoff_seconds")
        if initial is not None and value < initial:
            raise ValueError(f"at least dead_node_backoff_seconds ({initial:g})")
        return value

    def nodes(self) -> list[str]:
        """The configured base URLs without a trailing slash (`url` is a list of one); empty: not configured."""
        if self.urls:
            return [u.rstrip("/") for u in self.urls]
        return [self.url.rstrip("/")] if self.url else []

    def password(self) -> str | None:
        """The password from OBSERVE_ES_PASSWORD or password_file; never from the YAML itself."""
        return _secret("OBSERVE_ES_PASSWORD", self.password_file)

    def api_key(self) -> str | None:
        """The API key from OBSERVE_ES_API_KEY or api_key_file."""
        return _secret("OBSERVE_ES_API_KEY", self.api_key_file)


class KubeConfig(Section):
    """Access to the Kubernetes API."""

    kubeconfig: Path | None = Field(
        None, description="Path to a kubeconfig. Unset: $KUBECONFIG, else ~/.kube/config, else the in-cluster "
        "service account (kubectl's order).",
    )
    node_name: str | None = Field(
        None, description="This node's name (the chart sets it from spec.nodeName) so the shipper watches only its pods."
    )


class RenderConfig(Section):
    """Where `observe up` writes rendered dashboards and alerts."""

    out_dir: Path = Field(Path("var/render"), description="Output folder for dashboards, rules and Alertmanager config.")
    values: Path | None = Field(None, description="Values file for the render (defaults are built in).")


class EnvFirstSettings(BaseSettings):
    """A root config: OBSERVE_* env vars (nested keys joined by `__`) override the file; unknown keys are errors."""

    model_config = SettingsConfigDict(
        env_prefix="OBSERVE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file, so a Helm-set env var can override a mounted config.
        return (env_settings, init_settings)


def _secret(env: str, path: Path | None) -> str | None:
    value = os.environ.get(env)
    if value:
        return value
    if path is not None:
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {path}: {exc.strerror}") from None
    return None


def load_settings(model: type[Settings], path: Path | None = None,
                  overrides: dict[str, Any] | None = None) -> Settings:
    """Read and validate a config of `model`; raise ConfigError with a message a person can act on."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            raw = config_input.load_file(path, "config file")
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist; pass an existing YAML file") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {path} is a directory; pass a YAML file") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except config_input.InputError as exc:
            raise ConfigError(str(exc)) from None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"config file {path}: the top level must be a mapping of sections, got {type(raw).__name__}")
        data = raw
    if overrides:
        data = deep_merge(data, overrides)
    odd = [k for k in data if not isinstance(k, str)]
    if odd:
        raise ConfigError(f"config file {path}: top-level keys are section names; got {config_input.echo(odd[0])}, "
                          f"expected one of: {', '.join(_allowed_keys(model, ()))}")
    if wrong := config_input.env_name_errors(model, os.environ):
        raise ConfigError("\n  ".join(["invalid config (environment): an OBSERVE_* variable that would be ignored",
                                        *wrong]))
    try:
        return model(**data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, source=str(path) if path else "environment", model=model)) from None
    except SettingsError as exc:  # an OBSERVE_* value that is not the JSON its field needs
        raise ConfigError(config_input.env_error(model, os.environ, str(exc))) from None
    except RecursionError:
        raise ConfigError("an OBSERVE_* environment value nests too deeply; expected a short JSON list or mapping") from None


MAX_ERRORS = 20  # problems listed; a generated file can have thousands


def format_errors(exc: ValidationError, source: str, model: type[BaseModel] | None = None) -> str:
    """One line per problem: `key.path: got <value>, expected <what>`, values cut to about 200 characters."""
    lines = [f"invalid config ({source}):"]
    errors = exc.errors()
    for err in errors[:MAX_ERRORS]:
        loc = config_input.clip(".".join(str(p) for p in err["loc"]) or "(top level)")
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, err["loc"][:-1]) if model is not None else []
            hint = f"; expected one of: {', '.join(allowed)}" if allowed else ""
            lines.append(f"  {loc}: unknown key{hint}")
            continue
        got = err.get("input")
        got_text = "nothing" if err["type"] == "missing" else config_input.echo(got)
        lines.append(f"  {loc}: got {got_text}, expected {config_input.clip(_expected(err), 400)}")
    if len(errors) > MAX_ERRORS:
        lines.append(f"  ... and {len(errors) - MAX_ERRORS} more")
    return "\n".join(lines)


def _expected(err: Any) -> str:
    msg = str(err.get("msg", ""))
    for prefix in ("Input should be ", "Value error, "):
        if msg.startswith(prefix):
            return msg[len(prefix):]
    return msg[0].lower() + msg[1:] if msg else "a valid value"


def _allowed_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    model: Any = root
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = field.annotation
    return sorted(getattr(model, "model_fields", {}))


def iter_fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, Any, Any, str]]:
    """Walk a model: (dotted key, annotation, default, description) for every leaf."""
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from iter_fields(ann, key + ".")
            continue
        default = field.get_default(call_default_factory=True)
        yield key, ann, default, field.description or ""
