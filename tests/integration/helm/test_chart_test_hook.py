"""The `helm test` Pod's check, run for real: its exact command against a running `observe up`."""

from __future__ import annotations

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
    finally:
        assert up.stop() == 0
