"""The `helm test` Pod's check, run for real: its exact command against a running `observe up`."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.integration.helm import chart
from tests.integration.up.test_observe_up import start_up
from tests.peers.base import free_port

pytestmark = pytest.mark.integration


def test_readyz_hook_passes_on_ready_services_and_fails_on_unreachable_ones(helm_binary: Path, tmp_path: Path) -> None:
    objects = chart.template(helm_binary, tmp_path / "helm")
    [pod] = [o for o in objects if o["kind"] == "Pod" and o["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    argv = pod["spec"]["containers"][0]["command"]
    assert argv[:2] == ["python", "-c"]
    script, urls = argv[2], argv[3:]
    assert len(urls) == 4 and all(u.endswith("/readyz") for u in urls)
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["NEEDS_ELASTICSEARCH"].split() == [u for u in urls if "-shipper." in u or "-elasticsearch-exporter." in u]
    assert env["ELASTICSEARCH_URL"] == "http://elasticsearch-master:9200"
    assert env["READYZ_WAIT_SECONDS"] == "60"
    no_wait = {**os.environ, "READYZ_WAIT_SECONDS": "0"}

    up = start_up(tmp_path)
    try:
        ok = subprocess.run([sys.executable, "-c", script, f"{up.base}/readyz"], capture_output=True, text=True,
                            timeout=60, env=no_wait)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert f"{up.base}/readyz 200" in ok.stdout
        down = f"http://127.0.0.1:{free_port()}/readyz"
        failed = subprocess.run([sys.executable, "-c", script, f"{up.base}/readyz", down], capture_output=True,
                                text=True, timeout=60, env=no_wait)
        assert failed.returncode == 1
        assert f"{down} FAILED" in failed.stdout
        assert "MISSING" not in failed.stdout, "the unreachable part does not need Elasticsearch"
        # A part that needs Elasticsearch fails: one line names what is missing and the value that sets it.
        env = {**no_wait, "NEEDS_ELASTICSEARCH": down, "ELASTICSEARCH_URL": "http://elasticsearch-master:9200"}
        es_down = subprocess.run([sys.executable, "-c", script, f"{up.base}/readyz", down], capture_output=True,
                                 text=True, timeout=60, env=env)
        assert es_down.returncode == 1
        [missing] = [ln for ln in es_down.stdout.splitlines() if ln.startswith("MISSING:")]
        assert "Elasticsearch at http://elasticsearch-master:9200 is not ready" in missing
        assert missing.endswith("set elasticsearch.url to a reachable Elasticsearch")
    finally:
        assert up.stop() == 0


def test_readyz_hook_waits_for_a_service_that_routes_late(helm_binary: Path, tmp_path: Path) -> None:
    """Right after an install a Service can refuse connections for a second or two: the hook asks again."""
    objects = chart.template(helm_binary, tmp_path / "helm")
    [pod] = [o for o in objects if o["kind"] == "Pod" and o["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    script = pod["spec"]["containers"][0]["command"][2]
    port = free_port()
    late = f"http://127.0.0.1:{port}/readyz"

    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"ready": true}')

        def log_message(self, *args: object) -> None:
            pass

    def serve_later() -> None:
        time.sleep(3)
        with http.server.HTTPServer(("127.0.0.1", port), Ready) as server:
            server.handle_request()

    thread = threading.Thread(target=serve_later, daemon=True)
    thread.start()
    t0 = time.monotonic()
    waited = subprocess.run([sys.executable, "-c", script, late], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "READYZ_WAIT_SECONDS": "30"})
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert f"{late} 200" in waited.stdout and time.monotonic() - t0 >= 3
    thread.join(10)
    # Without the wait the same late Service fails at once.
    gone = subprocess.run([sys.executable, "-c", script, f"http://127.0.0.1:{free_port()}/readyz"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "READYZ_WAIT_SECONDS": "0"})
    assert gone.returncode == 1
