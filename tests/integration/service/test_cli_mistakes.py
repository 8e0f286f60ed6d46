"""The CLI meets common mistakes: a port in use, no or bad Kubernetes credentials, a Jaeger that hangs at stop.
Each ends with exit 2 and a message naming what to change (or a clean, quick stop), never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from tests.peers.base import free_port

REPO = Path(__file__).resolve().parents[3]


def observe(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "observe", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env if env is not None else dict(os.environ))


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port somebody else already listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_ship_on_a_port_in_use_binds_first_and_starts_no_work(tmp_path: Path, taken_port: int) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app.log").write_text("hello\n" * 100)
    cfg = tmp_path / "ship.yaml"
    cfg.write_text(yaml.safe_dump({
        "service": {"port": taken_port},
        "logs": {"paths": [str(logs / "*.log")], "sink": "spool", "spool_dir": str(tmp_path / "spool"),
                 "checkpoint_path": str(tmp_path / "checkpoint.json"), "checkpoint_interval_ms": 10,
                 "linger_ms": 10, "kubernetes": {"enabled": "off"}},
    }))
    proc = observe("ship", "--config", str(cfg))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert f"port {taken_port} on 127.0.0.1 is already in use" in proc.stderr
    assert "--port" in proc.stderr and "service.port" in proc.stderr and "OBSERVE_SERVICE__PORT" in proc.stderr
    assert '"service started"' not in proc.stdout + proc.stderr
    assert not (tmp_path / "checkpoint.json").exists() and not (tmp_path / "spool").exists()


def test_export_probe_on_a_port_in_use(taken_port: int) -> None:
    proc = observe("export", "probe", "--port", str(taken_port))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"port {taken_port} on 127.0.0.1 is already in use" in proc.stderr


def kube_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(tmp_path / "home")  # no ~/.kube/config there
    env.update(extra)
    return env


def test_export_cluster_without_credentials_names_what_it_tried_in_order(tmp_path: Path) -> None:
    proc = observe("export", "cluster", "--port", "0", env=kube_env(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    err = proc.stderr
    places = ["--kubeconfig / kube.kubeconfig: not set", "$KUBECONFIG: not set",
              f"~/.kube/config: {tmp_path}/home/.kube/config does not exist", "in-cluster service account: "]
    positions = [err.find(p) for p in places]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), err
    missing = tmp_path / "nowhere.yaml"
    proc = observe("export", "cluster", "--port", "0", env=kube_env(tmp_path, KUBECONFIG=str(missing)))
    assert proc.returncode == 2 and f"$KUBECONFIG: {missing} does not exist" in proc.stderr


def test_export_cluster_with_a_missing_or_binary_kubeconfig(tmp_path: Path) -> None:
    proc = observe("export", "cluster", "--port", "0", "--kubeconfig", str(tmp_path / "missing"), env=kube_env(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"--kubeconfig / kube.kubeconfig: {tmp_path / 'missing'} does not exist" in proc.stderr
    binary = tmp_path / "kubeconfig"
    binary.write_bytes(bytes(range(256)) * 4)
    for args, env in ((["--kubeconfig", str(binary)], {}), ([], {"KUBECONFIG": str(binary)})):
        proc = observe("export", "cluster", "--port", "0", *args, env=kube_env(tmp_path, **env))
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and f"{binary} is not usable: not a kubeconfig: not UTF-8" in proc.stderr


@pytest.fixture
async def hanging_jaeger() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A server on 127.0.0.1 that takes 30 s to answer, as a Jaeger under load can."""
    arrived = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await asyncio.sleep(30)
        return web.json_response({"data": []})

    app = web.Application()
    app.router.add_get("/api/services", slow)
    app.router.add_get("/api/traces", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", arrived
    await runner.cleanup()


async def test_traces_pull_is_quiet_and_stops_under_a_second(tmp_path: Path,
                                                             hanging_jaeger: tuple[str, asyncio.Event]) -> None:
    url, arrived = hanging_jaeger
    cfg = tmp_path / "traces.yaml"
    cfg.write_text(yaml.safe_dump({"service": {"port": 0}, "traces": {
        "jaeger_url": url, "interval_seconds": 0.2, "request_timeout_seconds": 30,
        "state_file": str(tmp_path / "state")}}))
    out = tmp_path / "out.log"
    with out.open("wb") as f:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "observe", "traces", "pull", "--config",
                                                    str(cfg), stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        async with asyncio.timeout(30):
            await arrived.wait()  # a pull is in flight
        await asyncio.sleep(0.5)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await proc.wait()
        took = time.monotonic() - start
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    text = out.read_text()
    assert code == 0, text
    [stopped] = [json.loads(line) for line in text.splitlines() if '"message":"stopped"' in line]
    assert stopped["event.duration_s"] < 1.0, text  # the drain itself, with a pull in flight
    # The whole process, interpreter exit included (about 0.6 s on an idle machine; this one may be shared).
    assert took < 2.5, f"stop took {took:.2f} s"
    assert "CancelledError" not in text and '"log.level":"error"' not in text, text
    assert "apscheduler" not in text, text
