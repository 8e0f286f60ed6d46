"""Config of the trace puller (the `traces` section)."""

import itertools
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from observe.config_section import Section

# The OpenTelemetry collector's servicegraph and spanmetrics connector defaults: 16 bounds, 2 ms to 15 s.
_GRAPH_BUCKETS = [0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.4, 2.0, 5.0, 10.0, 15.0]
_SPAN_BUCKETS = list(_GRAPH_BUCKETS)


class TracesConfig(Section):
    """The trace puller: reads traces from Jaeger's query API and derives the service graph and RED metrics."""

    jaeger_url: str = Field("", description="Jaeger query base URL, e.g. http://jaeger-query:16686. Empty: off.")
    jaeger_api: Literal["auto", "v3", "v1"] = Field(
        "auto", description="Which query API to read: v3 is Jaeger v2's /api/v3 (OTLP JSON), v1 is /api/traces; auto "
                            "asks /api/v3/services once and uses v3 when the server answers it.",
    )
    jaeger_ui_url: str = Field(
        "", description="Base URL of the Jaeger UI for links on the /graph page. Empty: the same as jaeger_url."
    )
    services: list[str] = Field(
        default_factory=list, description="Services to pull. Empty: every service Jaeger lists in /api/services."
    )
    exclude_services: list[str] = Field(
        default_factory=lambda: ["jaeger", "jaeger-all-in-one", "observe-traces"],
        description="Services never pulled (Jaeger's own traces and the puller's).",
    )
    interval_seconds: float = Field(15.0, gt=0, description="How often to pull.")
    overlap_seconds: float = Field(
        60.0, ge=0,
        description="Each pull reaches back this far behind the watermark, so late spans are still counted "
                    "(deduplicated by span id). It is also how long a span waits for its partner before it "
                    "counts as unpaired. Make it longer than your slowest request plus the reporting delay.",
    )
    settle_seconds: float = Field(
        2.0, ge=0, description="A pull ends this long before now, so spans still in flight are fetched next time."
    )
    initial_lookback_seconds: float = Field(
        300.0, ge=0, description="How far back the first pull starts when there is no saved watermark."
    )
    max_window_seconds: float = Field(
        300.0, gt=0, description="The longest time range one pull asks for; after an outage the puller catches up in steps."
    )
    limit: int = Field(
        1000, gt=0, description="Traces asked for per request; a full answer's time range is asked again in pieces (2 to 16, "
                                "sized from the answer's traces to hold about half a limit each)."
    )
    concurrency: int = Field(4, ge=1, le=64, description=(
        "Requests to Jaeger in flight at once (use 1 against Jaeger v2's `memory` storage, which tears "
        "attributes under concurrent queries)."))
    request_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one request to Jaeger.")
    backoff_max_seconds: float = Field(60.0, gt=0, description="Longest wait between attempts while Jaeger is down.")
    state_file: Path = Field(
        Path("var/traces-state.msgpack"),
        description="Where the watermark and the window's span ids are saved, so a restart neither loses nor double counts.",
    )
    sampling_rate: float = Field(
        1.0, gt=0, le=1,
        description="Fraction of requests traced, when spans do not say (a root span's probabilistic sampler.param "
                    "wins). Counts are divided by it.",
    )
    max_series: int = Field(
        10_000, gt=0, description="Series budget per family; series beyond it are dropped and counted in "
                                  "observe_traces_series_dropped_total."
    )
    service_graph_buckets_seconds: list[float] = Field(
        default_factory=lambda: list(_GRAPH_BUCKETS),
        description="Buckets of the traces_service_graph_request_{server,client}_seconds histograms (the collector's "
                    "servicegraph default; Tempo's is [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8]).",
    )
    span_metrics_buckets_seconds: list[float] = Field(
        default_factory=lambda: list(_SPAN_BUCKETS),
        description="Buckets of the spanmetrics duration histogram, in seconds whatever span_metrics_unit says.",
    )
    span_metrics_unit: Literal["ms", "s"] = Field(
        "ms", description="Unit of the spanmetrics duration histogram: ms gives traces_span_metrics_duration_"
                          "milliseconds (the collector's default), s gives traces_span_metrics_duration_seconds. The "
                          "rendered dashboards and rules follow the chart value traces.span_metrics_unit.",
    )
    graph_window_seconds: float = Field(
        300.0, gt=0, description="The /graph page shows rates, error rates and p95 over this much recent time."
    )
    shard: int = Field(
        0, ge=0, description="This puller's shard: every puller reads the same windows and keeps the traces whose id "
                             "hashes to it, so each trace is paired in one place. In the chart: the StatefulSet ordinal."
    )
    total_shards: int = Field(1, ge=1, description="How many pullers share the traces.")

    @field_validator("service_graph_buckets_seconds", "span_metrics_buckets_seconds")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if not value or any(b <= a for a, b in itertools.pairwise(value)) or value[0] <= 0:
            raise ValueError(f"expected a non-empty list of increasing positive numbers, got {value}")
        return value

    @model_validator(mode="after")
    def _shard_in_range(self) -> "TracesConfig":
        if self.shard >= self.total_shards:
            raise ValueError(f"shard {self.shard} must be below total_shards {self.total_shards}")
        return self
