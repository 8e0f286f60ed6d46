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


@pytest.mark.parametrize(("name", "said"), [
    ("OBSERVE_LOGZ__SINK", "OBSERVE_LOGZ__SINK: unknown section 'logz'; OBSERVE_<SECTION>__<KEY> takes one of: "
                           "elasticsearch, exporters, kube, logs, render, service, traces"),
    ("OBSERVE_SERVICE_PORT", "OBSERVE_SERVICE_PORT: levels are joined by two underscores: OBSERVE_SERVICE__PORT"),
    ("OBSERVE_Logs_Sink", "OBSERVE_Logs_Sink: levels are joined by two underscores: OBSERVE_LOGS__SINK"),
])
def test_an_env_override_that_would_be_ignored_is_a_config_error(tmp_path: Path, name: str, said: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("{}\n")
    out = check(f, {name: "9700"})
    assert out.returncode == 2
    assert said in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("name", ["OBSERVE_ES_PASSWORD", "OBSERVE_NATIVE", "OBSERVE_BENCH_ROUNDS", "OBSERVE_CONFIG",
                                  "OBSERVE_service__port", "OBSERVE_LOGS"])
def test_other_observe_variables_are_not_the_configs(tmp_path: Path, name: str) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("{}\n")
    out = check(f, {name: str(f) if name == "OBSERVE_CONFIG" else ("{}" if name == "OBSERVE_LOGS" else "9700")})
    assert out.returncode == 0, out.stderr


def test_valid_file_passes(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("service:\n  port: 9700\n")
    out = check(f)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(": ok")


def test_configuration_reference_is_current() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == render_reference(), "docs/configuration.md is stale: run `make docs`"


def test_elasticsearch_url_is_a_list_of_one() -> None:
    assert load_config(None, overrides={"elasticsearch": {"url": "http://es:9200/"}}).elasticsearch.nodes() == [
        "http://es:9200"]
    cfg = load_config(None, overrides={"elasticsearch": {"urls": ["https://es-0:9200", "https://es-1:9200/"]}})
    assert cfg.elasticsearch.nodes() == ["https://es-0:9200", "https://es-1:9200"]
    assert load_config(None).elasticsearch.nodes() == []


@pytest.mark.parametrize(("value", "expected"), [
    ('["http://a:9200", "http://b:9200"]', ["http://a:9200", "http://b:9200"]),
    ("http://a:9200, http://b:9200", ["http://a:9200", "http://b:9200"]),
    ("http://a:9200", ["http://a:9200"]),
])
def test_elasticsearch_urls_from_env_as_json_or_commas(monkeypatch: pytest.MonkeyPatch, value: str,
                                                       expected: list[str]) -> None:
    monkeypatch.setenv("OBSERVE_ELASTICSEARCH__URLS", value)
    assert load_config(None).elasticsearch.nodes() == expected


def test_url_and_urls_together_exit_2_naming_both(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("elasticsearch:\n  url: http://a:9200\n  urls: [http://b:9200]\n")
    out = check(f)
    assert out.returncode == 2
    assert ("elasticsearch.urls: got ['http://b:9200'], expected either elasticsearch.url or elasticsearch.urls, "
            "not both (url is 'http://a:9200'") in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(("urls", "expected"), [
    (["http://a:9200", "ftp://b"], r"expected an http:// or https:// URL with a host.*\(item 2: 'ftp://b'\)"),
    (["http://a:9200", ""], r"expected a base URL in every item \(item 2 is empty\)"),
    (["http://a:9200", "https://b:9200"], r"expected URLs of one scheme"),
    (["http://a:9200", "http://a:9200/"], r"expected each URL once"),
    (["http://elastic:pw@a:9200"], r"expected a URL without user:password@"),
])
def test_bad_elasticsearch_urls_name_key_value_and_expectation(urls: list[str], expected: str) -> None:
    with pytest.raises(ConfigError, match=r"elasticsearch\.urls: got .*" + expected) as err:
        load_config(None, overrides={"elasticsearch": {"urls": urls}})
    assert "pw" not in str(err.value)


def test_bad_elasticsearch_urls_env_value_exits_2(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("{}\n")
    out = check(f, {"OBSERVE_ELASTICSEARCH__URLS": '["http://a:9200",'})
    assert out.returncode == 2
    assert "elasticsearch.urls: got '[\"http://a:9200\",', expected a JSON list of URLs or comma-separated URLs" in out.stderr


def test_dead_node_backoff_cap_is_at_least_the_start() -> None:
    with pytest.raises(ConfigError, match=r"elasticsearch.dead_node_backoff_max_seconds: got 2, expected at least "
                       r"dead_node_backoff_seconds \(5\)"):
        load_config(None, overrides={"elasticsearch": {"dead_node_backoff_seconds": 5, "dead_node_backoff_max_seconds": 2}})


def test_elasticsearch_sink_without_a_url_exits_2(tmp_path: Path) -> None:
    import os

    f = tmp_path / "c.yaml"
    f.write_text(f"logs:\n  sink: elasticsearch\n  checkpoint_path: {tmp_path / 'cp.json'}\n  paths: [{tmp_path}/*.log]\n")
    out = subprocess.run([sys.executable, "-m", "observe", "ship", "--config", str(f)], capture_output=True, text=True,
                         env={**os.environ}, cwd=REPO, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "elasticsearch.urls: got nothing, expected the base URL of at least one Elasticsearch/OpenSearch node" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(("key", "pattern"), [
    ("parser", "regex:(?P<a>x{4294967296})"),
    ("multiline.mode", "regex:" + "(" * 5000 + "x" + ")" * 5000),
])
def test_a_regex_the_engine_refuses_past_re_error_is_a_config_error(tmp_path: Path, key: str, pattern: str) -> None:
    """re.compile raises OverflowError for a repeat count past 2**32 and RecursionError for deep nesting, not
    re.error: these reached the user as a traceback (and, in a pod annotation, stopped the node's pod metadata)."""
    section, _, leaf = key.rpartition(".")
    body = f"logs:\n  {leaf}: '{pattern}'\n" if not section else f"logs:\n  {section}:\n    {leaf}: '{pattern}'\n"
    f = tmp_path / "c.yaml"
    f.write_text(body)
    out = check(f)
    assert out.returncode == 2, out.stderr
    assert f"logs.{key}: got " in out.stderr and "a valid regex" in out.stderr
    assert "Traceback" not in out.stderr
