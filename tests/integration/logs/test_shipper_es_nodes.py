"""The shipper over a list of Elasticsearch nodes, against real nodes: a dead URL in the list, the node killed and
brought back, the node killed mid-stream with a second one in the list, and sniffing.

Two single nodes are two clusters, so exactly once is asserted only where one cluster holds everything (a dead
URL beside a live node, one node that comes back); with two live nodes the test checks where lines went.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from observe.config import ElasticsearchConfig
from observe.es_connection import Connection
from tests.integration.logs.shipper_process import LineWriter, ShipperProcess, all_docs, count, cri_line, wait_for
from tests.integration.logs.test_shipper_core import assert_exactly_once
from tests.peers import elasticsearch as es_peer
from tests.peers.base import Peer, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def unique(name: str) -> str:
    return f"{name}{os.getpid()}{int(time.time() * 1000) % 100000}"


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused


def test_a_dead_url_in_the_list_costs_no_backoff_and_loses_nothing(tmp_path: Path, elasticsearch: Peer) -> None:
    dead = dead_url()
    # A retry backoff of 60 s (at least 30 s with the jitter): delivering in time is possible only by retrying on
    # the live node at once.
    sp = ShipperProcess(tmp_path, elasticsearch.url, unique("deadurl"), retry_initial_seconds=60.0,
                        retry_max_seconds=120.0, elasticsearch={"urls": [dead, elasticsearch.url]})
    expected: list[tuple[str, str]] = []
    for n in range(3):
        path = sp.logs_dir / f"f{n}.log"
        texts = [f"file {n} line {i}" for i in range(2000)]
        path.write_bytes(b"".join(cri_line(t) for t in texts))
        expected += [(str(path), t) for t in texts]
    t0 = time.monotonic()
    sp.start()
    with LineWriter(sp.logs_dir / "live.log", "live") as writer:
        time.sleep(4)  # long enough for the dead node's rest (1 s, then 2 s) to end and its probes to fail
    assert_exactly_once(sp, elasticsearch, expected + writer.expected, timeout=60)
    assert time.monotonic() - t0 < 28, "a retry waited the backoff instead of going to the live node"
    assert sp.metric("observe_shipper_es_node_up", node=dead) == 0
    assert sp.metric("observe_shipper_es_node_up", node=elasticsearch.url) == 1
    assert sp.metric("observe_shipper_es_node_failures_total", node=dead, reason="connection") >= 2  # probed again
    assert sp.metric("observe_shipper_es_node_failures_total", node=elasticsearch.url) == 0
    assert sp.metric("observe_shipper_events_acked_total", outcome="delivered") == len(expected + writer.expected)
    assert sp.readyz()[0] == 200
    assert sp.stop() == 0


def test_the_node_killed_and_brought_back_gets_everything_exactly_once(
        tmp_path: Path, elasticsearch_disposable: Peer) -> None:
    peer = elasticsearch_disposable
    dead = dead_url()
    sp = ShipperProcess(tmp_path, peer.url, unique("comeback"), retry_max_seconds=2.0,
                        elasticsearch={"urls": [peer.url, dead], "dead_node_backoff_max_seconds": 4}).start()
    with LineWriter(sp.logs_dir / "steady.log", "comeback") as writer:
        wait_for(lambda: count(peer.url, sp.data_stream) > 100, 60, "the first documents", sp.log_tail)
        peer.kill()  # SIGKILL: bulk requests in flight lose their connection
        wait_for(lambda: "bulk requests failing" in sp.shipper_reason(), 30, "/readyz to say so", sp.log_tail)
        reason = sp.shipper_reason()
        assert peer.url in reason or dead in reason, reason
        time.sleep(5)
        es_peer.restart(peer)
        time.sleep(3)
    assert_exactly_once(sp, peer, writer.expected, timeout=180)
    assert sp.metric("observe_shipper_es_node_up", node=peer.url) == 1  # probed and found alive again
    assert sp.metric("observe_shipper_es_node_failures_total", node=peer.url) >= 1
    assert sp.metric("observe_shipper_es_node_up", node=dead) == 0
    acked = sp.metric("observe_shipper_events_acked_total", outcome="delivered") + sp.metric(
        "observe_shipper_events_acked_total", outcome="duplicate")
    assert acked == len(writer.expected)
    assert sp.stop() == 0


def test_the_node_killed_mid_stream_sends_the_rest_to_the_other_one(
        tmp_path: Path, elasticsearch_disposable: Peer, elasticsearch: Peer) -> None:
    first, other = elasticsearch_disposable, elasticsearch
    # No templates: setup's requests would go round robin to two clusters (a component template on one, the index
    # template that needs it on the other). Plain indices are created on first write on each.
    sp = ShipperProcess(tmp_path, other.url, unique("midstream"), retry_initial_seconds=30.0, retry_max_seconds=60.0,
                        install_templates=False, elasticsearch={"urls": [first.url, other.url]}).start()
    with LineWriter(sp.logs_dir / "steady.log", "midstream") as writer:
        wait_for(lambda: count(first.url, sp.data_stream) > 100 and count(other.url, sp.data_stream) > 100, 60,
                 "documents on both nodes (round robin)", sp.log_tail)
        first.kill()
        killed_at = len(writer.expected)
        time.sleep(4)
    # Everything is acknowledged with the first node still down (and a 30 s backoff never waited): the rest went
    # to the other node.
    wait_for(lambda: sp.metric("observe_shipper_lag_bytes") == 0, 30, "every byte acknowledged", sp.log_tail)
    docs = all_docs(other.url, sp.data_stream)
    have = [(d["log"]["file"]["path"], d["message"]) for d in docs]
    assert len(set(have)) == len(have) and len({d["_id"] for d in docs}) == len(docs)  # no line twice there
    after = writer.expected[killed_at:]
    assert after and not set(after) - set(have), "lines written after the kill are missing on the other node"
    assert sp.metric("observe_shipper_es_node_up", node=first.url) == 0
    assert sp.metric("observe_shipper_es_node_failures_total", node=first.url) >= 1
    assert sp.metric("observe_shipper_es_node_up", node=other.url) == 1
    assert sp.stop() == 0


def test_sniffing_replaces_the_list_with_the_nodes_the_cluster_names(tmp_path: Path, elasticsearch: Peer) -> None:
    dead = dead_url()
    sp = ShipperProcess(tmp_path, elasticsearch.url, unique("sniff"),
                        elasticsearch={"urls": [dead, elasticsearch.url], "sniff": True, "sniff_interval_seconds": 2})
    path = sp.logs_dir / "app.log"
    texts = [f"sniffed {i}" for i in range(500)]
    path.write_bytes(b"".join(cri_line(t) for t in texts))
    sp.start()
    assert_exactly_once(sp, elasticsearch, [(str(path), t) for t in texts])
    wait_for(lambda: sp.metric("observe_shipper_es_sniffs_total", outcome="ok") >= 2, 30, "a second sniff", sp.log_tail)
    nodes = {dict(labels)["node"] for (name, labels), _ in sp.metrics().items() if name == "observe_shipper_es_node_up"}
    assert nodes == {elasticsearch.url}  # the node publishes 127.0.0.1:<port>; the dead seed is gone
    assert sp.metric("observe_shipper_es_sniffs_total", outcome="error") == 0
    assert sp.stop() == 0


@pytest.fixture(params=["elasticsearch", "opensearch"])
def engine(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """Each engine's session node."""
    peer: Peer = request.getfixturevalue(request.param)
    yield peer


async def test_a_real_node_names_itself_when_sniffed(engine: Peer) -> None:
    conn = Connection(ElasticsearchConfig(urls=[engine.url]))  # type: ignore[call-arg]
    try:
        assert await conn.sniff() == [engine.url]
    finally:
        await conn.close()
    assert conn.sniffs == {"ok": 1, "empty": 0, "error": 0}
