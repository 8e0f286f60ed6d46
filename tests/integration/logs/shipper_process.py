"""Runs `observe ship --config FILE` as a real subprocess, scrapes its /metrics, and checks the index against
what was written: every line exactly once in the data stream or in the dead letter."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.peers.base import free_port

TS = "2024-05-01T12:00:00.000000000Z"

# Every process started, so a fixture can kill what a failing test left behind.
STARTED: list[ShipperProcess] = []


class ShipperProcess:
    """One shipper process with its own config, checkpoint and log.

    `es_url` is where the test reads the documents back; `elasticsearch` replaces the shipper's whole
    `elasticsearch` section (default `{"url": es_url}`), e.g. `{"urls": [a, b, c], "sniff": True}`.
    """

    def __init__(self, workdir: Path, es_url: str, name: str, *, paths: list[str] | None = None,
                 elasticsearch: dict[str, Any] | None = None, **logs: Any) -> None:
        self.workdir = workdir
        self.name = name
        self.port = free_port()
        self.data_stream = f"logs-test.{name}-default"
        self.deadletter = f"logs-test.{name}dl-default"
        self.es_url = es_url
        self.logs_dir = workdir / "logs"
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        settings: dict[str, Any] = {
            "paths": paths or [str(self.logs_dir / "*.log")],
            "data_stream": self.data_stream,
            "deadletter_data_stream": self.deadletter,
            "checkpoint_path": str(workdir / "checkpoint.json"),
            "checkpoint_interval_ms": 200,
            "linger_ms": 100,
            "retry_initial_seconds": 0.2,
            "retry_max_seconds": 2.0,
            "rotate_grace_seconds": 1.0,
            "host_name": "test-node",
        }
        settings.update(logs)
        self.config = {
            "service": {"host": "127.0.0.1", "port": self.port, "log_level": "info", "drain_timeout_seconds": 5},
            "elasticsearch": elasticsearch if elasticsearch is not None else {"url": es_url},
            "logs": settings,
        }
        self.config_path = workdir / "shipper.yaml"
        self.config_path.write_text(yaml.safe_dump(self.config))
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "shipper.log"

    def start(self, wait_ready: bool = True) -> ShipperProcess:
        """Start the process (and wait for /readyz unless told not to)."""
        logf = self.log_path.open("ab")
        argv = [str(Path(sys.executable).parent / "observe"), "ship", "--config", str(self.config_path)]
        self.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        STARTED.append(self)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"shipper exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._get("/readyz" if wait_ready else "/healthz") is not None:
                return self
            time.sleep(0.1)
        raise AssertionError(f"shipper not ready:\n{self.log_tail()}")

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return bytes(r.read())
        except (urllib.error.URLError, OSError):
            return None

    def readyz(self) -> tuple[int, dict[str, Any]]:
        """Status and body of /readyz (a 503 too)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def shipper_reason(self) -> str:
        """The shipper's readiness reason."""
        return str(self.readyz()[1]["services"]["shipper"]["reason"])

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of the real /metrics: (name, sorted labels) -> value."""
        raw = self._get("/metrics")
        assert raw is not None, "no /metrics"
        out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(raw.decode()):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        total = 0.0
        for (n, lbls), v in self.metrics().items():
            if n == name and all(dict(lbls).get(k) == val for k, val in labels.items()):
                total += v
        return total

    def kill(self) -> None:
        """SIGKILL: no drain, no final checkpoint."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        """SIGTERM and wait for the drain."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9

    def log_tail(self, n: int = 60) -> str:
        """The end of the shipper's own log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def es(url: str, method: str, path: str, body: Any = None) -> Any:
    """A JSON request to the peer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read()[:500]!r}") from None


def count(url: str, index: str) -> int:
    """Documents in a data stream after a refresh (0 when it does not exist)."""
    if es(url, "POST", f"/{index}/_refresh") is None:
        return 0
    got = es(url, "GET", f"/{index}/_count")
    return int(got["count"]) if got else 0


def all_docs(url: str, index: str, fields: Iterable[str] = ("message", "log")) -> list[dict[str, Any]]:
    """Every document (source filtered), read with a scroll (no sort key is unique across rotated files)."""
    if es(url, "POST", f"/{index}/_refresh") is None:
        return []
    got = es(url, "POST", f"/{index}/_search?scroll=1m",
             {"size": 10000, "sort": ["_doc"], "_source": list(fields), "query": {"match_all": {}}})
    out: list[dict[str, Any]] = []
    while got and got["hits"]["hits"]:
        out.extend({"_id": h["_id"], **h["_source"]} for h in got["hits"]["hits"])
        got = es(url, "POST", "/_search/scroll", {"scroll": "1m", "scroll_id": got["_scroll_id"]})
    if got and "_scroll_id" in got:
        es(url, "DELETE", "/_search/scroll", {"scroll_id": got["_scroll_id"]})
    return out


def wait_for(check: Callable[[], bool], timeout: float, what: str, on_fail: Callable[[], str] = lambda: "") -> None:
    """Poll until check() holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{on_fail()}")


def cri_line(text: str, stream: str = "stdout", tag: str = "F") -> bytes:
    """One CRI line."""
    return f"{TS} {stream} {tag} {text}\n".encode()


def messages(docs: list[dict[str, Any]]) -> list[str]:
    """The sorted messages of documents."""
    return sorted(str(d["message"]) for d in docs)


class LineWriter:
    """Appends `batch` CRI lines to one file every `tick` seconds from a thread until stopped (or the `with` ends).

    `expected` is every (path, message) written; `marks` is (monotonic time, lines written by then) per batch.
    `width` zero-pads the line number, so every line has the same length and line i starts at i * line_len.
    """

    def __init__(self, path: Path, tag: str, *, batch: int = 50, tick: float = 0.1, pad: int = 0,
                 width: int = 0) -> None:
        self.path = path
        self.tag = tag
        self.batch = batch
        self.tick = tick
        self.suffix = " " + "p" * pad if pad else ""
        self.width = width
        self.expected: list[tuple[str, str]] = []
        self.marks: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"writer-{tag}")

    def text(self, i: int) -> str:
        """The message of line i."""
        return f"{self.tag} {i:0{self.width}d}{self.suffix}"

    @property
    def line_len(self) -> int:
        """Bytes of one line (the same for every line when `width` covers the numbers written)."""
        return len(cri_line(self.text(0)))

    def _run(self) -> None:
        with self.path.open("ab") as f:
            while not self._stop.is_set():
                n = len(self.expected)
                texts = [self.text(i) for i in range(n, n + self.batch)]
                f.write(b"".join(cri_line(t) for t in texts))
                f.flush()
                self.expected += [(str(self.path), t) for t in texts]
                self.marks.append((time.monotonic(), len(self.expected)))
                time.sleep(self.tick)

    def written_before(self, t: float) -> int:
        """Lines written up to monotonic time t."""
        return max((n for at, n in self.marks if at <= t), default=0)

    def start(self) -> LineWriter:
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop writing; the number of lines written."""
        self._stop.set()
        self._thread.join()
        return len(self.expected)

    def __enter__(self) -> LineWriter:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
