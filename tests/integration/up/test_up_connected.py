"""`observe up` on a machine that does have a cluster, Elasticsearch and Jaeger: every part runs."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.integration.up.test_observe_up import get, start_up, wait_for
from tests.peers.base import Peer

pytestmark = pytest.mark.integration


def es_count(peer: Peer, stream: str, query: str) -> int:
    url = f"{peer.url}/{stream}/_count?q={urllib.parse.quote(query)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return int(json.loads(r.read())["count"])
    except urllib.error.HTTPError:
        return 0  # the data stream does not exist yet


def test_up_runs_every_part_when_cluster_elasticsearch_and_jaeger_are_there(
    elasticsearch: Peer, kube_apiserver: Peer, jaeger: Peer, tmp_path: Path
) -> None:
    stream = f"logs-upconnected.t{uuid.uuid4().hex[:8]}-default"
    up = start_up(tmp_path, {
        "OBSERVE_ELASTICSEARCH__URL": elasticsearch.url,
        "OBSERVE_LOGS__DATA_STREAM": stream,
        "KUBECONFIG": str(kube_apiserver.extra["kubeconfig"]),
        "OBSERVE_TRACES__JAEGER_URL": jaeger.url,
        "OBSERVE_TRACES__STATE_FILE": str(tmp_path / "traces-state.msgpack"),
    })
    try:
        table = up.output()
        assert "[yellow]off" not in table and " off " not in table, table
        assert f"to {elasticsearch.url} ({stream})" in table
        assert f"watches {elasticsearch.url}" in table and f"pulls {jaeger.url}" in table
        assert str(kube_apiserver.extra["kubeconfig"]) in table

        def ready() -> bool:
            status, _ = get(f"{up.base}/readyz")
            return status == 200
        try:
            wait_for(ready, timeout=90)
        finally:
            _, body = get(f"{up.base}/readyz")
            print("readyz:", body.decode())
        assert set(json.loads(body)["services"]) == {"shipper", "cluster-exporter", "probe-exporter",
                                                     "elasticsearch-exporter", "traces"}

        for ns in ("shop", "payments", "ingress-nginx"):
            wait_for(lambda ns=ns: es_count(elasticsearch, stream, f'kubernetes.namespace:"{ns}"') > 0, timeout=60)
        assert not (tmp_path / "var" / "spool" / "logs").exists() or not list((tmp_path / "var/spool/logs").glob("*.ndjson"))

        _, metrics = get(f"{up.base}/metrics")
        text = metrics.decode()
        assert "\nelasticsearch_up 1.0" in text or "\nelasticsearch_up 1\n" in text
        assert 'kube_namespace_status_phase{namespace="default",phase="Active"} 1' in text
        assert "observe_traces_pull_errors_total" in text
    finally:
        assert up.stop() == 0, up.output()
