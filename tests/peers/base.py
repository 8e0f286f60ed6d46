"""The shape every peer shares: a version-keyed cache, free ports, a process with a log, a readiness wait."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("OBSERVE_PEERS_CACHE", "~/.cache/observe-peers")).expanduser()

# Every peer started in this test session, so a failing test can show their logs.
RUNNING: list[Peer] = []


class PeerError(RuntimeError):
    """A peer could not be installed or did not become ready."""


def cache_dir(name: str, version: str) -> Path:
    """The cache folder for one peer at one version, created if missing."""
    path = CACHE / f"{name}-{version}"
    path.mkdir(parents=True, exist_ok=True)
    return path


# Ports free_port() has handed out in this process. The kernel may give the same ephemeral port to two binds in a
# row once the first socket is closed: CI once started Jaeger with its OTLP gRPC and HTTP receivers on one port.
_HANDED_OUT: deque[int] = deque(maxlen=2048)
_HANDED_OUT_LOCK = threading.Lock()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago and that this process has not handed out recently."""
    with _HANDED_OUT_LOCK:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
            if port not in _HANDED_OUT:
                _HANDED_OUT.append(port)
                return port


def run(argv: Sequence[str | Path], *, cwd: Path | None = None, env: Mapping[str, str] | None = None,
        log: Path | None = None) -> None:
    """Run an install step; on failure raise with the tail of its output."""
    full_env = {**os.environ, **(env or {})}
    out = subprocess.run([str(a) for a in argv], cwd=cwd, env=full_env, capture_output=True, text=True)
    if log is not None:
        with log.open("a") as f:
            f.write(f"$ {' '.join(map(str, argv))}\n{out.stdout}\n{out.stderr}\n")
    if out.returncode != 0:
        tail = (out.stdout + out.stderr)[-4000:]
        raise PeerError(f"{' '.join(map(str, argv))} failed with {out.returncode}:\n{tail}")


@dataclass
class Peer:
    """One running server: its process, where it listens, and its log."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    workdir: Path
    url: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        """The last lines of the peer's own log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the process (CONT, TERM, then KILL) and forget it."""
        if self.alive():
            # A SIGSTOPped process (a fault test's pause) would not act on TERM until the wait below ran out.
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self in RUNNING:
            RUNNING.remove(self)

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)
        if self in RUNNING:
            RUNNING.remove(self)


def start_process(name: str, argv: Sequence[str | Path], workdir: Path, *,
                  env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Peer:
    """Start a peer process with stdout and stderr going to workdir/<name>.log."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    logf = log_path.open("ab")
    proc = subprocess.Popen([str(a) for a in argv], stdout=logf, stderr=subprocess.STDOUT,
                            cwd=cwd or workdir, env={**os.environ, **(env or {})},
                            start_new_session=True)
    peer = Peer(name=name, proc=proc, log_path=log_path, workdir=workdir)
    RUNNING.append(peer)
    return peer


def http_ok(url: str, *, timeout: float = 2.0, expect: Callable[[int, bytes], bool] | None = None,
            context: object | None = None) -> bool:
    """True when GET url answers (2xx by default, or as `expect` says)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as r:  # type: ignore[arg-type]
            body = r.read()
            return expect(r.status, body) if expect else 200 <= r.status < 300
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_ready(peer: Peer, check: Callable[[], bool], timeout: float = 120.0, interval: float = 0.25) -> Peer:
    """Poll check() until it is true; fail with the peer's log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not peer.alive():
            raise PeerError(f"{peer.name} exited with {peer.proc.returncode} before it was ready:\n{peer.log_tail()}")
        if check():
            return peer
        time.sleep(interval)
    peer.stop()
    raise PeerError(f"{peer.name} was not ready after {timeout:.0f}s:\n{peer.log_tail()}")


def which(binary: str) -> Path:
    """A binary on PATH, or a PeerError that says how to install it."""
    found = shutil.which(binary)
    if not found:
        raise PeerError(f"{binary} is not on PATH; run `make peers` (python -m tests.peers install)")
    return Path(found)
