"""Render values a user gets wrong: each is refused naming the render values' own keys, alerts and names."""

from __future__ import annotations

from pathlib import Path

import pytest

from observe.config import ConfigError
from observe.render.renderer import plan
from observe.render.values import load_values


def values(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "values.yaml"
    f.write_text(text)
    return f


def test_unknown_top_level_key_lists_the_render_sections(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_values(values(tmp_path, "grafanna:\n  url: x\n"))
    text = str(err.value)
    assert "grafanna: unknown key; expected one of: alertmanager, grafana, jobs, kibana, platform, rules" in text
    assert "elasticsearch" not in text and "exporters" not in text  # not the config file's sections


def test_rules_disabled_must_name_an_alert(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"rules.disabled: got \['KubePodCrashLoping'\], expected names of alerts"):
        plan(values(tmp_path, "rules:\n  disabled: [KubePodCrashLoping]\n"))
    # real names pass, templated ones (Kube[[ name ]]Overcommit) too
    plan(values(tmp_path, "rules:\n  disabled: [Watchdog, KubeCPUOvercommit]\n"))


def test_grafana_folder_points_at_the_chart_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dashboards\.folder"):
        load_values(values(tmp_path, "grafana:\n  folder: Mine\n"))


def test_duplicate_keys_in_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="duplicate key 'url'"):
        load_values(values(tmp_path, "kibana:\n  url: a\n  url: b\n"))


@pytest.mark.parametrize("job", ['a"b', "back\\slash", "new\nline", ""])
def test_a_job_name_that_would_break_the_promql_it_is_quoted_in_is_refused(tmp_path: Path, job: str) -> None:
    """Job names are written into PromQL as job="<name>": a newline made a rules file that was not YAML (a
    RuntimeError traceback), and a quote or backslash made selectors promtool refuses, found by mutating values.yaml."""
    text = "jobs:\n  kubelet: " + yaml_quoted(job) + "\n"
    with pytest.raises(ConfigError, match=r"jobs\.kubelet: got .*, expected a Prometheus job name"):
        plan(values(tmp_path, text))


def yaml_quoted(value: str) -> str:
    import json

    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


@pytest.mark.parametrize(("text", "key"), [
    ("alertmanager:\n  heartbeat:\n    webhook_url: ''\n", "alertmanager.heartbeat.webhook_url"),
    ("alertmanager:\n  heartbeat:\n    webhook_url: hooks.example.com/x\n", "alertmanager.heartbeat.webhook_url"),
    ("alertmanager:\n  heartbeat:\n    webhook_url: 'ftp://hooks.example.com/x'\n", "alertmanager.heartbeat.webhook_url"),
    ("alertmanager:\n  smtp:\n    from: ''\n", "alertmanager.smtp.from"),
    ("alertmanager:\n  smtp:\n    from: alertmanager\n", "alertmanager.smtp.from"),
])
def test_values_alertmanager_refuses_are_refused_at_render(tmp_path: Path, text: str, key: str) -> None:
    """amtool check-config failed on these renders (found by mutating values.yaml): the chart's Alertmanager would not
    have started. Now the render names the key."""
    with pytest.raises(ConfigError, match=rf"{key.replace('.', '[.]')}: got "):
        plan(values(tmp_path, text))


def test_a_display_name_in_the_from_address_is_fine(tmp_path: Path) -> None:
    plan(values(tmp_path, "alertmanager:\n  smtp:\n    from: 'Alerts <alertmanager@example.com>'\n"))
