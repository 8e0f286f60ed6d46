"""`observe ship` with the spool sink, no Kubernetes and no OTLP endpoint loads none of the heavy modules it has no
use for (issue 18: idle memory and start-up cost), so a top-level import can't silently bring them back; and it
runs with the collector settings of `observe.service.tune_collector`.

A subprocess runs the real CLI entry point; a thread waits for /readyz over a raw socket (no urllib, which
would itself load modules), then records sys.modules and sends the process SIGTERM.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import click
import yaml

from observe.app.cli import LAZY, cli
from observe.service import GC_YOUNG_THRESHOLD
from tests.peers.base import free_port

NOT_LOADED = (
    "opentelemetry",  # only with service.otlp_endpoint or the Elasticsearch sink
    "jinja2",  # the render stack
    "rich",  # TTY tables of `observe up`
    "kubernetes_asyncio",
    "elasticsearch",
    "opensearchpy",
    "apscheduler",
    "msgspec",
    "google.protobuf",  # the cluster exporter's protobuf LIST pages
    "observe.render",
    "observe.traces.puller",
    "observe.logs.sinks.elasticsearch",
    "exporters.cli",
    "exporters.cluster.service",
    "exporters.probe.service",
    "exporters.elasticsearch",
)

SCRIPT = r"""
import gc, json, os, signal, socket, sys, threading, time

port, out = int(sys.argv[1]), sys.argv[2]

def ready():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n")
            return b" 200 " in s.recv(64)
    except OSError:
        return False

def watch():
    while not ready():
        time.sleep(0.05)
    time.sleep(0.3)
    with open(out, "w") as f:
        json.dump({"modules": sorted(sys.modules), "frozen": gc.get_freeze_count(), "threshold": gc.get_threshold(),
                   "enabled": gc.isenabled()}, f)
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=watch, daemon=True).start()
from observe.app.start import main  # the console script's entry point
sys.argv = ["observe", *sys.argv[3:]]  # the command line to run
main()
"""


def test_ship_with_spool_sink_loads_no_heavy_module(tmp_path: Path) -> None:
    port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "app_ns_c-0123456789abcdef.log").write_text("2026-01-01T00:00:00.000000000Z stdout F hello\n")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "service": {"host": "127.0.0.1", "port": port},
        "logs": {"paths": [str(logs / "*.log")], "sink": "spool", "spool_dir": str(tmp_path / "spool"),
                 "checkpoint_path": str(tmp_path / "checkpoint.json"), "kubernetes": {"enabled": "off"}},
    }))
    out = tmp_path / "modules.txt"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(port), str(out), "ship", "--config", str(config)],
                          capture_output=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    seen = json.loads(out.read_text())
    loaded = set(seen["modules"])
    assert "observe.logs.service" in loaded and "observe.logs.sinks.spool" in loaded  # the shipper did run
    heavy = sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_LOADED))
    assert heavy == []
    # start-up's objects sit in the permanent generation, the young generation collects less often, and the
    # collector, off during start-up (observe/app/start.py), is on again
    assert seen["frozen"] > 10_000
    assert seen["threshold"][0] == GC_YOUNG_THRESHOLD
    assert seen["enabled"] is True


def test_every_other_command_turns_the_collector_back_on() -> None:
    """The console script starts with the collector off; a command that does not call tune_collector (here `config
    reference`) must not run without it."""
    from click.testing import CliRunner

    gc.disable()
    try:
        result = CliRunner().invoke(cli, ["config", "reference"])
        assert result.exit_code == 0 and gc.isenabled()
    finally:
        gc.enable()


def test_lazy_commands_are_the_modules_commands() -> None:
    """Each lazily loaded top-level name is exactly the one command its module lists, and help lists them all."""
    for name, load in LAZY.items():
        assert [c.name for c in load()] == [name]
    ctx = click.Context(cli)
    assert set(LAZY) <= set(cli.list_commands(ctx))
    assert all(cli.get_command(ctx, name) is not None for name in cli.list_commands(ctx))
