"""The shipper's self-metrics, with exactly the names dashboards and alerts are written against."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from observe.logs import cri_native


class ShipperMetrics:
    """Every observe_shipper_* family, registered on the given registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = self.registry = registry  # the sink registers its node pool's collector here
        self.lines_read = Counter("observe_shipper_lines_read", "Lines read from log files.", ["namespace"], registry=r)
        self.bytes_read = Counter("observe_shipper_bytes_read", "Bytes read from log files.", ["namespace"], registry=r)
        self.events_shipped = Counter(
            "observe_shipper_events_shipped", "Events sent in a bulk request (first attempt).", ["namespace"], registry=r
        )
        self.events_acked = Counter(
            "observe_shipper_events_acked", "Events with a final outcome: delivered, duplicate or deadlettered.",
            ["outcome"], registry=r,
        )
        self.events_retried = Counter(
            "observe_shipper_events_retried", "Event sends retried, by reason (429, 5xx, timeout, connection, auth).",
            ["reason"], registry=r,
        )
        self.duplicates_avoided = Counter(
            "observe_shipper_duplicates_avoided", "Events not sent because the data stream already held their _id in some "
            "backing index (a re-send after a restart, a replay), by reason.", ["reason"], registry=r,
        )
        self.sink_errors = Counter(
            "observe_shipper_sink_errors", "Batches the sink failed on with an error of its own (an answer it cannot "
            "read, a bug); the batch is sent again with backoff.", ["reason"], registry=r,
        )
        self.events_dropped = Counter(
            "observe_shipper_events_dropped", "Events dropped, by reason, and whether by intent (config) or not.",
            ["reason", "intentional"], registry=r,
        )
        self.events_deadlettered = Counter(
            "observe_shipper_events_deadlettered", "Events written to the dead-letter data stream, by reason.",
            ["reason"], registry=r,
        )
        self.lost_bytes = Counter(
            "observe_shipper_lost_bytes", "Bytes never shipped: rotated away unread, or cut from truncated events.",
            ["reason"], registry=r,
        )
        self.events_flagged = Counter(
            "observe_shipper_events_flagged", "Events shipped with a log.flags entry.", ["flag"], registry=r
        )
        self.file_lag_bytes = Gauge(
            "observe_shipper_file_lag_bytes", "Bytes of a file not yet acknowledged.", ["file"], registry=r
        )
        self.lag_bytes = Gauge("observe_shipper_lag_bytes", "Bytes of all files not yet acknowledged.", registry=r)
        self.checkpoint_age = Gauge(
            "observe_shipper_checkpoint_age_seconds", "Age of the oldest acknowledgement not yet written to disk.",
            registry=r,
        )
        self.checkpoint_write_failures = Counter(
            "observe_shipper_checkpoint_write_failures", "Checkpoint writes that failed (the old one stays).", registry=r
        )
        self.bulk_duration = Histogram(
            "observe_shipper_bulk_duration_seconds", "Duration of one bulk request.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=r,
        )
        self.bulk_items = Counter(
            "observe_shipper_bulk_items", "Bulk items by the HTTP status the server gave each.", ["status"], registry=r
        )
        self.files_open = Gauge("observe_shipper_files_open", "Log files held open.", registry=r)
        self.native_fast_path = Gauge(
            "observe_shipper_native_fast_path", "1 when whole CRI lines take the fast path in C (observe/logs/"
            "cri_native.c), 0 when they take the pure-Python one (not built, or OBSERVE_NATIVE=off).", registry=r,
        )
        self.native_fast_path.set(1 if cri_native.AVAILABLE else 0)
        for outcome in ("delivered", "duplicate", "deadlettered"):
            self.events_acked.labels(outcome)


class _ObjectErrors(Collector):
    """observe_shipper_kube_object_errors_total, read from the reflectors' counts at scrape time."""

    def __init__(self, read: Callable[[], dict[str, int]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "observe_shipper_kube_object_errors", "Kubernetes objects left out of the pod metadata because reading "
            "them raised (a bug; the error log names the object), by resource.", labels=["resource"])
        for resource, n in self.read().items():
            family.add_metric([resource], n)
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())


class EnrichMetrics:
    """observe_shipper_kube_api_up, observe_shipper_annotation_errors_total and
    observe_shipper_kube_object_errors_total (`object_errors` reads the counts per resource)."""

    def __init__(self, registry: CollectorRegistry, object_errors: Callable[[], dict[str, int]] = dict) -> None:
        registry.register(_ObjectErrors(object_errors))
        self.api_up = Gauge("observe_shipper_kube_api_up", "1 when the Kubernetes API answered the last list/watch call.",
                            registry=registry)
        self.annotation_errors = Counter(
            "observe_shipper_annotation_errors", "Invalid observe.io/logs* annotations or aliyun_logs_* env entries.",
            ["namespace", "pod", "key"], registry=registry,
        )
