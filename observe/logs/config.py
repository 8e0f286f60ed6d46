"""Config of the log shipper (the `logs` section)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from observe.config_section import Section
from observe.logs.multiline import MultilineSpecError, rule_for
from observe.logs.parsers import ParserSpecError, parser_for

MIN_EVENT_BYTES = 1024  # logs.max_event_bytes and --max-event-bytes refuse less


class LifecycleConfig(Section):
    """Retention installed on start: an ILM policy on Elasticsearch, an ISM policy on OpenSearch."""

    enabled: bool = Field(True, description="Install a lifecycle policy where the server supports one; warn once otherwise.")
    rollover_max_age: str = Field("1d", description="Roll the backing index over after this age (ES/OS time unit).")
    rollover_max_size: str = Field("50gb", description="Roll the backing index over at this primary shard size.")
    delete_after: str = Field("7d", description="Delete backing indices this long after rollover.")


class KubernetesLogsConfig(Section):
    """Pod metadata and per-pod annotation config from the Kubernetes API (observe/logs/enrich.py)."""

    enabled: Literal["auto", "on", "off"] = Field(
        "auto", description="auto: on when Kubernetes credentials are found (in a pod, or kube.kubeconfig / $KUBECONFIG).")
    kubelet_root: str = Field(
        "/var/lib/kubelet", description="The kubelet's root dir on the node; files declared inside emptyDir volumes are "
        "read under <kubelet_root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<volume>/.")
    deleted_pod_grace_seconds: float = Field(
        300.0, ge=0, description="A deleted pod's metadata is kept this long, so its last lines are still enriched.")
    resolve_wait_seconds: float = Field(
        2.0, ge=0, description="How long a newly opened file waits for its pod to appear in the watch cache.")


class MultilineConfig(Section):
    """Default multiline merging (a pod's observe.io/logs.<name>.multiline annotation overrides it)."""

    mode: str = Field("none", description=(
        "none | auto | java | javascript | csharp | python | go | ruby | php | dart | regex:<start-of-record pattern>."))
    flush_seconds: float = Field(2.0, gt=0, description="An open multiline event is shipped after its stream is quiet this long.")
    max_lines: int = Field(500, ge=2, description="Most lines in one event; a longer trace continues in a new event, flagged.")
    max_bytes: int = Field(1024 * 1024, ge=1024, description="Most bytes in one event; a bigger trace continues in a new event.")

    @field_validator("mode")
    @classmethod
    def _valid_mode(cls, value: str) -> str:
        try:
            rule_for(value)
        except MultilineSpecError as exc:
            raise ValueError(str(exc)) from None
        return value


class LogsConfig(Section):
    """The log shipper: tail container log files and deliver them exactly once."""

    paths: list[str] = Field(
        default_factory=lambda: ["/var/log/containers/*.log"], description="Globs of log files to tail (symlinks are followed)."
    )
    exclude_paths: list[str] = Field(
        default_factory=list, description="Globs (fnmatch) of paths never to tail, e.g. the shipper's own log."
    )
    format: Literal["auto", "cri", "docker", "plain"] = Field(
        "auto", description="Line format: CRI, docker json-file, plain text, or detected per file."
    )
    sink: Literal["auto", "elasticsearch", "spool", "null"] = Field(
        "auto",
        description="Where events go. auto: elasticsearch when elasticsearch.url is set, else spool. "
        "spool writes the exact bulk bodies to spool_dir for a later replay; null discards (benchmarks).",
    )
    spool_dir: Path = Field(Path("var/spool/logs"), description="Folder of the spool sink's NDJSON bulk files.")
    data_stream: str = Field("logs-kubernetes.container-default", description="Data stream the events are written to.")
    deadletter_data_stream: str = Field(
        "logs-observe.deadletter-default", description="Data stream for events the server rejects (mapping errors, other 4xx)."
    )
    install_templates: bool = Field(True, description="Install the component and index templates on start (idempotent).")
    number_of_replicas: int = Field(0, ge=0, description="Replicas of the data streams' backing indices.")
    lifecycle: LifecycleConfig = Field(default_factory=LifecycleConfig)  # type: ignore[arg-type]
    kubernetes: KubernetesLogsConfig = Field(default_factory=KubernetesLogsConfig)  # type: ignore[arg-type]
    multiline: MultilineConfig = Field(default_factory=MultilineConfig)  # type: ignore[arg-type]
    parser: str = Field("none", description="Default parser: none | json | nginx | regex:<pattern with named groups>; "
                        "a pod's observe.io/logs.<name>.format annotation overrides it.")

    @field_validator("parser")
    @classmethod
    def _valid_parser(cls, value: str) -> str:
        try:
            parser_for(value)
        except ParserSpecError as exc:
            raise ValueError(str(exc)) from None
        return value
    host_name: str | None = Field(None, description="host.name of every event; default kube.node_name, else the hostname.")
    checkpoint_path: Path = Field(
        Path("var/shipper/checkpoint.json"), description="File holding each log file's acknowledged offset."
    )
    checkpoint_interval_ms: int = Field(1000, ge=10, description="Write the checkpoint at most this often.")
    poll_interval_seconds: float = Field(
        0.25, gt=0, le=1.0, description="How often files are discovered and checked for growth and rotation (polling)."
    )
    inotify: Literal["auto", "off"] = Field(
        "auto", description="auto: watch the globs' directories with inotify (Linux) and rescan as soon as a file appears, "
        "moves or goes, and identify a file created empty as soon as its first line is written; polling stays on as "
        "the fallback. off: find new files by polling only.")
    read_bytes: int = Field(256 * 1024, ge=4096, description="Bytes read from one file per turn.")
    max_event_bytes: int = Field(
        1024 * 1024, ge=MIN_EVENT_BYTES,
        description="Longest event in bytes, in every format; a longer one is cut at exactly this many bytes, "
        "flagged `truncated` and counted.",
    )
    fingerprint_bytes: int = Field(
        64, ge=16, le=4096, description="A file's identity uses at most this many of its first bytes (up to the first newline)."
    )
    rotate_grace_seconds: float = Field(
        5.0, ge=0, description="A renamed or deleted file is closed once read to its end and quiet for this long."
    )
    batch_max_bytes: int = Field(2 * 1024 * 1024, ge=1024, description="Largest bulk request body.")
    batch_max_events: int = Field(5000, ge=1, description="Most events in one bulk request.")
    linger_ms: int = Field(500, ge=0, description="A partly filled bulk request is sent after waiting this long.")
    max_in_flight: int = Field(2, ge=1, le=64, description="Bulk requests in flight at once.")
    queue_segments: int = Field(4, ge=1, description="Read segments waiting between the reader and the batcher.")
    retry_initial_seconds: float = Field(
        0.5, gt=0, description="First retry backoff for 429/5xx/timeouts (then doubled, jittered)."
    )
    retry_max_seconds: float = Field(30.0, gt=0, description="Longest retry backoff. Retries never give up.")
