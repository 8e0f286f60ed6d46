"""`observe export ...` runs with the collector settings of `observe.service.tune_collector`, like `observe ship`
(measured on the cluster exporter: less CPU per scrape; docs/exporters.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from observe.service import GC_YOUNG_THRESHOLD
from tests.peers.base import free_port
from tests.unit.logs.test_shipper_imports import SCRIPT


def test_an_exporter_process_freezes_start_up_and_collects_less_often(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"service": {"host": "127.0.0.1", "port": port}}))
    out = tmp_path / "state.json"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(port), str(out), "export", "probe", "--config", str(config)],
                          capture_output=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    seen = json.loads(out.read_text())
    assert "exporters.probe.service" in seen["modules"]  # the probe exporter did run
    assert seen["frozen"] > 10_000
    assert seen["threshold"][0] == GC_YOUNG_THRESHOLD
