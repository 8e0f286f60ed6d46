"""`observe up` on a machine with no cluster and no Elasticsearch: the newcomer's first run (`make up`)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
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


def clean_env(workdir: Path, port: int) -> dict[str, str]:
    """The environment of a newcomer's shell: no OBSERVE_* settings, no kubeconfig, our port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVE_") and k != "KUBECONFIG"}
    env.update({"OBSERVE_SERVICE__PORT": str(port), "HOME": str(workdir), "COLUMNS": "200"})
    return env


def start_up(workdir: Path, extra_env: dict[str, str] | None = None, logs: Path = EXAMPLES) -> Up:
    """`observe up --logs examples/logs` in workdir (so var/ lands there), on a free port, with no kubeconfig."""
    port = free_port()
    log = workdir / f"up-{time.monotonic_ns()}.log"
    env = {**clean_env(workdir, port), **(extra_env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen([str(OBSERVE), "up", "--logs", str(logs)], cwd=workdir, env=env,
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


def checkpoint_files(workdir: Path) -> dict[str, dict[str, object]]:
    """The checkpoint's entries by key ({} before the first write)."""
    try:
        return dict(json.loads((workdir / "var" / "shipper" / "checkpoint.json").read_text())["files"])
    except FileNotFoundError:
        return {}


def all_acknowledged(workdir: Path, n: int = 3, under: Path | None = None) -> bool:
    """The checkpoint holds n files (of those under `under`), each acknowledged up to its current size."""
    files = [e for e in checkpoint_files(workdir).values() if under is None or str(e["path"]).startswith(f"{under}/")]
    return len(files) == n and all(e["offset"] == Path(str(e["real_path"])).stat().st_size for e in files)


def ours(docs: list[tuple[dict[str, object], dict[str, object]]], logs: Path) -> list[dict[str, object]]:
    """The spooled documents of files under `logs` (a run with the default paths may find this machine's own)."""
    return [d for _, d in docs if str(d["log"]["file"]["path"]).startswith(f"{logs}/")]  # type: ignore[index]


def metric(base: str, name: str) -> float | None:
    body = get(f"{base}/metrics")[1]
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_ctrl_c_exits_zero_keeps_checkpoints_and_the_next_run_resumes(up: Up) -> None:
    wait_for(lambda: all_acknowledged(up.workdir))
    assert up.stop() == 0, up.output()
    assert all_acknowledged(up.workdir)
    shipped = len(spool_documents(up.workdir))

    again = start_up(up.workdir)
    try:
        # The restart has opened the three files at their checkpoints and has nothing left to read.
        wait_for(lambda: metric(again.base, "observe_shipper_files_open") == 3
                 and metric(again.base, "observe_shipper_lag_bytes") == 0)
        assert again.stop() == 0, again.output()
    finally:
        if again.proc.poll() is None:
            again.proc.kill()
    assert len(spool_documents(up.workdir)) == shipped, "a restart re-shipped lines it had already spooled"


def test_up_then_ship_with_default_paths_then_up_again_reads_an_appended_line(tmp_path: Path) -> None:
    # The newcomer's sequence: `observe up --logs examples/logs`, `observe ship` (its default paths, the same
    # checkpoint file), a line appended to a sample file, `observe up --logs examples/logs` again.
    logs = tmp_path / "examples" / "logs"
    shutil.copytree(EXAMPLES, logs, symlinks=True)
    first = start_up(tmp_path, logs=logs)
    try:
        wait_for(lambda: all_acknowledged(tmp_path))
        assert first.stop() == 0, first.output()
    finally:
        if first.proc.poll() is None:
            first.proc.kill()
    spooled = ours(spool_documents(tmp_path), logs)
    entries = checkpoint_files(tmp_path)
    assert len(entries) == 3 and len(spooled) == len(spool_documents(tmp_path))

    port = free_port()
    out = (tmp_path / "ship.log").open("wb")
    ship = subprocess.Popen([str(OBSERVE), "ship"], cwd=tmp_path, env=clean_env(tmp_path, port), stdout=out,
                            stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200 if _listening(port) else False)
        # A run longer than the default rotate_grace_seconds (5 s) plus a checkpoint interval, as a person's is.
        time.sleep(7)
        ship.send_signal(signal.SIGTERM)
        assert ship.wait(30) == 0, (tmp_path / "ship.log").read_text()
    finally:
        if ship.poll() is None:
            ship.kill()
        out.close()
    after = checkpoint_files(tmp_path)
    assert {k: after.get(k) for k in entries} == entries, "a run with other globs must keep these entries untouched"
    assert ours(spool_documents(tmp_path), logs) == spooled

    sample = sorted(logs.glob("*.log"))[0]
    with sample.open("ab") as f:
        f.write(b"2025-06-02T10:00:00.000000000Z stdout F appended after the ship run\n")
    third = start_up(tmp_path, logs=logs)
    try:
        wait_for(lambda: all_acknowledged(tmp_path, under=logs))
        assert third.stop() == 0, third.output()
    finally:
        if third.proc.poll() is None:
            third.proc.kill()
    everything = spool_documents(tmp_path)
    ids = [a["create"]["_id"] for a, _ in everything]  # type: ignore[index]
    assert len(set(ids)) == len(ids)
    docs = ours(everything, logs)
    assert len(docs) == len(spooled) + 1
    assert docs[: len(spooled)] == spooled
    assert [d["message"] for d in docs[len(spooled):]] == ["appended after the ship run"]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_up_with_a_missing_logs_folder_exits_2_naming_the_option(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBSERVE_")}
    out = subprocess.run([str(OBSERVE), "up", "--logs", str(tmp_path / "nope")], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--logs" in out.stderr and "nope" in out.stderr and "Traceback" not in out.stderr
