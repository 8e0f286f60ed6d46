"""docs/metrics.md is generated from the metric definitions; this fails when someone forgot to regenerate it."""

from __future__ import annotations

from pathlib import Path

from observe.app.metrics_reference import render_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"


def test_metrics_reference_is_current() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/metrics.md is stale: run `observe export metrics-reference > docs/metrics.md` and commit it")


def test_reference_lists_the_contract_names() -> None:
    text = render_reference()
    for name in ("kube_pod_container_resource_requests", "kube_pod_owner", "observe_exporter_series_dropped_total",
                 "observe_exporter_watch_events_total", "observe_exporter_relists_total", "observe_exporter_objects",
                 "probe_success", "probe_http_duration_seconds", "probe_ssl_earliest_cert_expiry",
                 "observe_probe_refused_total", "elasticsearch_up", "elasticsearch_cluster_health_status",
                 "elasticsearch_data_stream_store_size_bytes", "observe_elasticsearch_stats_age_seconds",
                 "observe_service_ready"):
        assert f"`{name}`" in text, name
