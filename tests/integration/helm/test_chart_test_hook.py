"""The `helm test` Pod's check, run for real: its exact command against a running `observe up`."""

from __future__ import annotations

import os
import subprocess
import sys
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

    up = start_up(tmp_path)
    try:
        ok = subprocess.run([sys.executable, "-c", script, f"{up.base}/readyz"], capture_output=True, text=True, timeout=60)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert f"{up.base}/readyz 200" in ok.stdout
        down = f"http://127.0.0.1:{free_port()}/readyz"
        failed = subprocess.run([sys.executable, "-c", script, f"{up.base}/readyz", down], capture_output=True,
                                text=True, timeout=60)
        assert failed.returncode == 1
        assert f"{down} FAILED" in failed.stdout
        assert "MISSING" not in failed.stdout, "the unreachable part does not need Elasticsearch"
        # A part that needs Elasticsearch fails: one line names what is missing and the value that sets it.
        env = {**os.environ, "NEEDS_ELASTICSEARCH": down, "ELASTICSEARCH_URL": "http://elasticsearch-master:9200"}
        es_down = subprocess.run([sys.executable, "-c", script, f"{up.base}/readyz", down], capture_output=True,
                                 text=True, timeout=60, env=env)
        assert es_down.returncode == 1
        [missing] = [ln for ln in es_down.stdout.splitlines() if ln.startswith("MISSING:")]
        assert "Elasticsearch at http://elasticsearch-master:9200 is not ready" in missing
        assert missing.endswith("set elasticsearch.url to a reachable Elasticsearch")
    finally:
        assert up.stop() == 0
