"""A real Elasticsearch 8.17 core node, run from Maven Central jars by our own launcher in tests/peers/java/elasticsearch.

No registry reachable here ships an Elasticsearch distribution, but Central has the server jar and transport-netty4.
The launcher builds a Node whose plugins are classpath classes (Netty4Plugin only), so this is the core server:
no x-pack (ILM, security), no modules (`GET /`, `_data_stream` APIs, ingest, painless). docs/testing.md has the table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import cast

import pytest

from tests.peers import base

# transport-netty4 is published only up to 8.17.2 in the 8.17 line (the server jar goes to 8.17.10).
VERSION = "8.17.2"
INSTALL_ORDER = 40
INSTALL_LANE = "fetch"  # apt or Maven downloads: runs beside the Go builds

PROJECT = Path(__file__).parent / "java" / "elasticsearch"
MAIN_CLASS = "observe.peers.ElasticsearchLauncher"
HEAP = "512m"

# Every node starts from these; `settings=` overrides them key by key.
DEFAULT_SETTINGS: dict[str, str] = {
    "cluster.name": "observe-test",
    "node.name": "observe-test",
    "discovery.type": "single-node",
    "network.host": "127.0.0.1",
    "cluster.routing.allocation.disk.threshold_enabled": "false",
    "indices.breaker.total.use_real_memory": "false",
    "action.destructive_requires_name": "false",
}

# Two concurrent shard-level writes at most: concurrent bulks get real 429 es_rejected_execution_exception.
THROTTLED_SETTINGS: dict[str, str] = {
    "thread_pool.write.size": "1",
    "thread_pool.write.queue_size": "1",
}

LOG4J2 = """\
status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%-25c{1.}] %marker%m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
"""


def java_home() -> Path:
    """JDK 17, which both launchers are built and run with."""
    home = Path(os.environ.get("OBSERVE_JAVA17_HOME", "/usr/lib/jvm/java-17-openjdk-amd64"))
    if not (home / "bin" / "javac").exists():
        raise base.PeerError(f"no JDK 17 at {home}; apt-get install openjdk-17-jdk-headless (or set OBSERVE_JAVA17_HOME)")
    return home


def project_digest(project: Path, extra: str) -> str:
    """A hash of the Maven project (pom and sources) and `extra`, so an edit rebuilds the launcher."""
    h = hashlib.sha256(extra.encode())
    for path in sorted(p for p in project.rglob("*") if p.is_file() and "target" not in p.parts):
        h.update(str(path.relative_to(project)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def build_launcher(project: Path, cache: Path, properties: Mapping[str, str]) -> str:
    """Resolve the project's jars and compile its launcher under cache/; return the classpath. A no-op when up to date."""
    build = cache / "build"
    stamp = cache / "installed.stamp"
    digest = project_digest(project, json.dumps(dict(properties), sort_keys=True))
    classpath = f"{build / 'classes'}:{build / 'lib'}/*"
    if stamp.exists() and stamp.read_text() == digest and (build / "classes").is_dir():
        return classpath
    if shutil.which("mvn") is None:
        raise base.PeerError("mvn is not on PATH; apt-get install maven")
    shutil.rmtree(build, ignore_errors=True)
    props = [f"-D{k}={v}" for k, v in properties.items()]
    base.run(["mvn", "-q", "-B", "-f", project / "pom.xml", f"-Dmaven.repo.local={cache / 'm2'}",
              f"-Dpeer.build={build}", *props, "dependency:copy-dependencies", "compile"],
             env={"JAVA_HOME": str(java_home())}, log=cache / "install.log")
    stamp.write_text(digest)
    return classpath


def install() -> None:
    """Download Elasticsearch's jars from Maven Central and compile our launcher (cached by version)."""
    build_launcher(PROJECT, base.cache_dir("elasticsearch", VERSION), {"es.version": VERSION})


def jvm_argv(classpath: str, main_class: str, home: Path) -> list[str]:
    """The java command line: Elasticsearch's own JVM defaults, a 512m heap, temp files under home."""
    return [
        str(java_home() / "bin" / "java"),
        f"-Xms{HEAP}", f"-Xmx{HEAP}", "-XX:+UseG1GC", "-Dfile.encoding=UTF-8", "-Djna.nosys=true",
        "-Dio.netty.noUnsafe=true", "-Dio.netty.noKeySetOptimization=true", "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-Dlog4j2.disable.jmx=true", "-Dlog4j.shutdownHookEnabled=false", f"-Djava.io.tmpdir={home / 'tmp'}",
        "-cp", classpath, main_class, str(home),
    ]


def yaml_lines(settings: Mapping[str, str]) -> str:
    """Flat settings as YAML (JSON strings are valid YAML scalars)."""
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items())


def health_ready(url: str) -> bool:
    """True once the cluster is at least yellow (`GET /` is in a module this node lacks)."""
    return base.http_ok(f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=3.0)


def start(workdir: Path, *, settings: Mapping[str, str] | None = None, port: int | None = None,
          data_path: Path | None = None, name: str = "elasticsearch", timeout: float = 180.0) -> base.Peer:
    """Start a node on 127.0.0.1; pass the port and data_path of a stopped node to bring that node back."""
    classpath = build_launcher(PROJECT, base.cache_dir("elasticsearch", VERSION), {"es.version": VERSION})
    home = workdir / "home"
    data = data_path or workdir / "data"
    for d in (home / "config", home / "tmp", home / "logs", data):
        d.mkdir(parents=True, exist_ok=True)
    http_port = port or base.free_port()
    transport_port = base.free_port()
    merged = {**DEFAULT_SETTINGS, **(settings or {}),
              "http.port": str(http_port), "transport.port": str(transport_port),
              "path.data": str(data), "path.logs": str(home / "logs")}
    (home / "config" / "elasticsearch.yml").write_text(yaml_lines(merged))
    (home / "config" / "log4j2.properties").write_text(LOG4J2)
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
    settings = cast("dict[str, str]", peer.extra["settings"])
    fresh = start(peer.workdir, settings=settings, port=peer.ports["http"], data_path=Path(str(peer.extra["data_path"])),
                  name=peer.name, timeout=timeout)
    # Keep the caller's object (a session fixture may hold it) and let it own the new process.
    base.RUNNING.remove(fresh)
    peer.proc, peer.ports, peer.extra = fresh.proc, fresh.ports, fresh.extra
    base.RUNNING.append(peer)
    return peer


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
