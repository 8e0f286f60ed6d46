"""promtool on the rendered default rules: syntax, and unit tests that every alert fires and stays silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.integration.alerts.rendered import TESTS, render_tree
from tests.peers.base import which

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.peers import prometheus

    prometheus.install()
    return render_tree(tmp_path_factory.mktemp("render"))


def _promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(which("promtool")), *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_promtool_check_rules_accepts_every_rendered_rule_file(rendered: Path) -> None:
    files = sorted((rendered / "rules").glob("*.yaml"))
    assert len(files) >= 9
    result = _promtool("check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass_on_the_default_rules(rendered: Path) -> None:
    tests = sorted((rendered / "stripped" / "tests").glob("*.test.yaml"))
    result = _promtool("test", "rules", *tests, cwd=rendered / "stripped" / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_descriptions_values_and_links(rendered: Path) -> None:
    result = _promtool("test", "rules", "annotations.test.yaml", cwd=rendered / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_expectation_fails_promtool(rendered: Path, tmp_path: Path) -> None:
    """The harness can fail: a test that expects the wrong severity is reported."""
    case = yaml.safe_load((TESTS / "probes.test.yaml").read_text())
    case["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["severity"] = "warning"
    broken = rendered / "stripped" / "tests" / "broken.yaml"
    broken.write_text(yaml.safe_dump(case))
    try:
        result = _promtool("test", "rules", broken.name, cwd=broken.parent)
    finally:
        broken.unlink()
    assert result.returncode != 0
    assert "ProbeFailed" in result.stdout + result.stderr


def _rendered_alerts(rendered: Path) -> set[str]:
    names = set()
    for rule_file in (rendered / "rules").glob("*.yaml"):
        for group in yaml.safe_load(rule_file.read_text())["groups"]:
            names |= {r["alert"] for r in group["rules"] if "alert" in r}
    return names


def test_every_alert_has_a_firing_and_a_silent_case(rendered: Path) -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for test_file in TESTS.glob("*.test.yaml"):
        for case in yaml.safe_load(test_file.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    alerts = _rendered_alerts(rendered)
    assert alerts - fires == set(), "alerts without a test that makes them fire"
    assert alerts - silent - {"Watchdog"} == set(), "alerts without a test that keeps them silent"
