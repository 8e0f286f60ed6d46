"""amtool on the rendered Alertmanager config: it loads, and the routing table sends every alert where it belongs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from observe.render.renderer import render, write
from tests.peers.base import which

pytestmark = pytest.mark.integration
HERE = Path(__file__).parent
ROUTES = yaml.safe_load((HERE.parents[2] / "alerts" / "tests" / "routes.yaml").read_text())


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.peers import alertmanager

    alertmanager.install()
    out = tmp_path_factory.mktemp("am")
    write(render(HERE / "values.yaml"), out)
    return out / "alertmanager" / "alertmanager.yaml"


def _amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(which("amtool")), *map(str, args)], capture_output=True, text=True)


def test_amtool_accepts_the_default_and_the_team_config(config: Path, tmp_path: Path) -> None:
    write(render(None), tmp_path)
    for path in (tmp_path / "alertmanager" / "alertmanager.yaml", config):
        result = _amtool("check-config", path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "1 templates" in result.stdout


@pytest.mark.parametrize("case", ROUTES, ids=lambda c: f"{c['labels'].get('namespace', '-')}/{c['labels']['severity']}")
def test_route(config: Path, case: dict[str, Any]) -> None:
    labels = [f"{k}={v}" for k, v in case["labels"].items()]
    result = _amtool("config", "routes", "test", f"--config.file={config}",
                     f"--verify.receivers={','.join(case['receivers'])}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails_amtool(config: Path) -> None:
    result = _amtool("config", "routes", "test", f"--config.file={config}", "--verify.receivers=default",
                     "namespace=shop", "severity=critical")
    assert result.returncode != 0
