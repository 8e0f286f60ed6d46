"""Real Elasticsearch 8.17 core nodes, run from Maven Central jars by our own launcher in tests/peers/java/elasticsearch:
one alone (`start`) or three as a cluster (`start_cluster`, the shared logic in tests/peers/es_cluster.py).

No registry reachable here ships an Elasticsearch distribution, but Central has the server jar and transport-netty4.
The launcher builds a Node whose plugins are classpath classes (Netty4Plugin only), so this is the core server:
no x-pack (ILM, security), no modules (`GET /`, `_data_stream` APIs, ingest, painless). docs/testing.md has the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import base, es_cluster

# One node's restart on its own ports and data path; the same function restarts a cluster's nodes.
from tests.peers.es_cluster import restart as restart

# transport-netty4 is published only up to 8.17.2 in the 8.17 line (the server jar goes to 8.17.10).
VERSION = "8.17.2"
INSTALL_ORDER = 40
INSTALL_LANE = "fetch"  # apt or Maven downloads: runs beside the Go builds

# Two concurrent shard-level writes at most: concurrent bulks get real 429 es_rejected_execution_exception.
THROTTLED_SETTINGS: dict[str, str] = {
    "thread_pool.write.size": "1",
    "thread_pool.write.queue_size": "1",
}


ENGINE = es_cluster.Engine(
    name="elasticsearch", version=VERSION, project=Path(__file__).parent / "java" / "elasticsearch",
    build_properties={"es.version": VERSION}, main_class="observe.peers.ElasticsearchLauncher", config_dir="config",
    settings_file="config/elasticsearch.yml", manager_role="master", initial_managers="cluster.initial_master_nodes")
# install() -> classpath, cached by version; start(workdir, *, settings=None, port=None, data_path=None, name=...,
# timeout=180.0) -> base.Peer, one node; start_cluster(workdir, *, nodes=3, name=..., settings=None, timeout=300.0)
# -> es_cluster.Cluster, three nodes started at once.
install, start, start_cluster = ENGINE.install, ENGINE.start, ENGINE.start_cluster


def rss_bytes(peer: base.Peer) -> int:
    """The node's resident memory, from /proc."""
    for line in Path(f"/proc/{peer.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.fixture(scope="session")
def elasticsearch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[base.Peer]:
    """One Elasticsearch 8.17 core node for the session; use unique index and data stream names per test."""
    install()
    peer = start(tmp_path_factory.mktemp("elasticsearch"))
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def elasticsearch_throttled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[base.Peer]:
    """A second node with a one-thread, one-slot write pool: concurrent bulks get real 429s."""
    install()
    peer = start(tmp_path_factory.mktemp("elasticsearch-throttled"), settings=THROTTLED_SETTINGS,
                 name="elasticsearch-throttled")
    yield peer
    peer.stop()


@pytest.fixture
def elasticsearch_disposable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[base.Peer]:
    """A fresh node for one test, which may stop, kill or restart() it (same port, same data path)."""
    install()
    peer = start(tmp_path_factory.mktemp("elasticsearch-disposable"), name="elasticsearch-disposable")
    yield peer
    peer.stop()


elasticsearch_cluster = ENGINE.cluster_fixture()
