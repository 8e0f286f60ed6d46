"""Config: typed, strict, overridable from env, and every error names key, value and expectation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from observe.app.config import load_config
from observe.app.config_reference import render_reference
from observe.config import ConfigError

REPO = Path(__file__).resolve().parents[2]


def check(path: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "observe", "config", "check", str(path)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, cwd=REPO)


def test_defaults_load_without_a_file() -> None:
    cfg = load_config(None)
    assert cfg.service.port == 9600
    assert cfg.service.host == "127.0.0.1"


def test_env_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  port: 9700\n  log_level: debug\n")
    monkeypatch.setenv("OBSERVE_SERVICE__PORT", "9800")
    cfg = load_config(f)
    assert cfg.service.port == 9800
    assert cfg.service.log_level == "debug"


def test_unknown_key_names_the_key_and_the_allowed_ones(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  prot: 9700\n")
    out = check(f)
    assert out.returncode == 2
    assert "service.prot: unknown key; expected one of: drain_timeout_seconds, host, log_level, otlp_endpoint, port" in out.stderr
    assert "Traceback" not in out.stderr


def test_wrong_type_names_key_value_and_expectation(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  port: lots\n")
    out = check(f)
    assert out.returncode == 2
    assert "service.port: got 'lots', expected a valid integer" in out.stderr
    assert "Traceback" not in out.stderr


def test_out_of_range_value(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  port: 70000\n")
    with pytest.raises(ConfigError, match=r"service.port: got 70000, expected less than or equal to 65535"):
        load_config(f)


def test_missing_file_exits_2(tmp_path: Path) -> None:
    out = check(tmp_path / "nope.yaml")
    assert out.returncode == 2
    assert f"config file {tmp_path / 'nope.yaml'} does not exist; pass an existing YAML file" in out.stderr
    assert "Traceback" not in out.stderr


def test_invalid_yaml_says_where(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  port: [1,\n")
    with pytest.raises(ConfigError, match=r"is not valid YAML at line \d+, column \d+"):
        load_config(f)


def test_bad_env_value_is_a_config_error(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("{}\n")
    out = check(f, {"OBSERVE_SERVICE__DRAIN_TIMEOUT_SECONDS": "-1"})
    assert out.returncode == 2
    assert "service.drain_timeout_seconds: got '-1', expected greater than 0" in out.stderr


def test_valid_file_passes(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  port: 9700\n")
    out = check(f)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(": ok")


def test_configuration_reference_is_current() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == render_reference(), "docs/configuration.md is stale: run `make docs`"
