"""`observe up` on a machine with no cluster and no Elasticsearch: the newcomer's first run (`make up`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.peers.base import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples" / "logs"
OBSERVE = Path(sys.executable).with_name("observe")


@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    workdir: Path
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """Ctrl-C, as a person would, and the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(30)


def start_up(workdir: Path, extra_env: dict[str, str] | None = None) -> Up:
    """`observe up --logs examples/logs` in workdir (so var/ lands there), on a free port, with no kubeconfig."""
    port = free_port()
    log = workdir / f"up-{time.monotonic_ns()}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVE_") and k != "KUBECONFIG"}
    env.update({"OBSERVE_SERVICE__PORT": str(port), "HOME": str(workdir), "COLUMNS": "200", **(extra_env or {})})
    with log.open("wb") as out:
        proc = subprocess.Popen([str(OBSERVE), "up", "--logs", str(EXAMPLES)], cwd=workdir, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    up = Up(proc, workdir, port, log)
    deadline = time.monotonic() + 60
    while "Ctrl-C stops every part" not in up.output():
        if proc.poll() is not None:
            raise AssertionError(f"observe up exited with {proc.returncode}:\n{up.output()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"observe up printed no table within 60 s:\n{up.output()}")
        time.sleep(0.2)
    return up


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    running = start_up(tmp_path)
    try:
        yield running
    finally:
        if running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait(10)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def spool_documents(workdir: Path) -> list[tuple[dict[str, object], dict[str, object]]]:
    """(action, document) pairs of every bulk body in the spool."""
    pairs = []
    for path in sorted((workdir / "var" / "spool" / "logs").glob("*.ndjson")):
        lines = path.read_bytes().splitlines()
        pairs += [(json.loads(a), json.loads(d)) for a, d in zip(lines[::2], lines[1::2], strict=True)]
    return pairs


def wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def example_lines() -> int:
    return sum(len(p.read_bytes().splitlines()) for p in EXAMPLES.glob("*.log"))


def test_up_prints_what_runs_and_what_is_off_and_why(up: Up) -> None:
    table = up.output()
    for row in ("logs", "cluster exporter", "probe exporter", "elasticsearch exporter", "trace puller", "render"):
        assert row in table
    assert f"{up.base}/metrics" in table
    assert "to the spool" in table
    assert "no Kubernetes credentials" in table
    assert "no elasticsearch.url configured" in table
    assert "no traces.jaeger_url configured" in table


def test_up_serves_metrics_and_readiness_and_ships_the_examples_to_the_spool(up: Up) -> None:
    wait_for(lambda: len(spool_documents(up.workdir)) >= 3 * 5)
    status, body = get(f"{up.base}/readyz")
    assert status == 200, body
    assert json.loads(body)["services"]["shipper"]["ready"] is True
    status, metrics = get(f"{up.base}/metrics")
    assert status == 200
    text = metrics.decode()
    assert 'observe_build_info{version="0.1.0"} 1.0' in text
    for ns in ("shop", "payments", "ingress-nginx"):
        assert f'observe_shipper_lines_read_total{{namespace="{ns}"}}' in text

    docs = spool_documents(up.workdir)
    ids = [a["create"]["_id"] for a, _ in docs]  # type: ignore[index]
    assert len(ids) == len(set(ids)), "every event has its own deterministic _id"
    assert all(a["create"]["_index"] == "logs-kubernetes.container-default" for a, _ in docs)  # type: ignore[index]
    assert {d["kubernetes"]["namespace"] for _, d in docs} == {"shop", "payments", "ingress-nginx"}  # type: ignore[index]
    messages = [str(d["message"]) for _, d in docs]
    assert any("java.lang.IllegalStateException: payment declined" in m for m in messages)
    assert any('"POST /shop/orders HTTP/1.1" 500' in m for m in messages)
    assert any('"msg": "charge failed"' in m for m in messages)
    # The runtime split one long line (P then F): it is shipped as one event.
    assert any(m.endswith("A" * 40 + "B" * 40 + " size=80") for m in messages)
    assert len(docs) < example_lines()


def test_up_renders_dashboards_and_alerts(up: Up) -> None:
    out = up.workdir / "var" / "render"
    assert list((out / "dashboards").glob("*.json"))
    assert list((out / "rules").glob("*.yaml"))
    assert (out / "alertmanager" / "alertmanager.yaml").is_file()
    for path in (out / "dashboards").glob("*.json"):
        assert json.loads(path.read_text())["panels"]


def test_ctrl_c_exits_zero_keeps_checkpoints_and_the_next_run_resumes(up: Up) -> None:
    wait_for(lambda: len(spool_documents(up.workdir)) >= 3 * 5)
    time.sleep(1.5)  # past the checkpoint interval
    assert up.stop() == 0, up.output()
    checkpoint = json.loads((up.workdir / "var" / "shipper" / "checkpoint.json").read_text())
    files = checkpoint["files"].values()
    assert len(files) == 3
    for entry in files:
        assert entry["offset"] == Path(entry["real_path"]).stat().st_size, entry
    shipped = len(spool_documents(up.workdir))

    again = start_up(up.workdir)
    try:
        time.sleep(3)
        assert again.stop() == 0, again.output()
    finally:
        if again.proc.poll() is None:
            again.proc.kill()
    assert len(spool_documents(up.workdir)) == shipped, "a restart re-shipped lines it had already spooled"


def test_up_with_a_missing_logs_folder_exits_2_naming_the_option(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVE_")}
    out = subprocess.run([str(OBSERVE), "up", "--logs", str(tmp_path / "nope")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--logs" in out.stderr and "nope" in out.stderr and "Traceback" not in out.stderr
